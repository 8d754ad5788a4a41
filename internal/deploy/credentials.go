package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/talos"
)

type credentialsStep struct{}

func (credentialsStep) Name() string { return StepCredentials }

// AlwaysRun: passwords and URLs are read fresh on every deploy.
func (credentialsStep) AlwaysRun() bool { return true }

// Credentials is credentials.json: everything needed to use the cluster.
// It holds passwords, so it is written 0600 and never printed unless asked.
type Credentials struct {
	Cluster     string            `json:"cluster"`
	Kubeconfig  string            `json:"kubeconfig"`
	KubeContext string            `json:"kube_context,omitempty"`
	Talosconfig string            `json:"talosconfig,omitempty"`
	Endpoint    string            `json:"endpoint,omitempty"`
	Logins      map[string]Login  `json:"logins"`
	URLs        map[string]string `json:"urls"`
	PortForward map[string]string `json:"port_forward,omitempty"`
}

// Login is a user name and password for one UI.
type Login struct {
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	// Source says where the password came from.
	Source string `json:"source,omitempty"`
}

func (credentialsStep) Run(ctx context.Context, r *pipeline.Run) error {
	s := r.Deps.Spec
	clusterKubeconfig := ClusterKubeconfig(r)
	kubeconfigPath := r.Cluster.Path(kubeconfig.File)
	if s.Source() == spec.Existing {
		// Keep a self-contained copy, so `cto kubeconfig` and status work
		// from the cluster's folder.
		data, err := kubeconfig.Minify(clusterKubeconfig)
		if err != nil {
			return err
		}
		if err := r.Cluster.WriteSecret(kubeconfig.File, data); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(kubeconfigPath)
	if err != nil {
		return fmt.Errorf("the cluster's kubeconfig: %w", err)
	}
	creds := Credentials{
		Cluster:    s.Name,
		Kubeconfig: kubeconfigPath,
		Logins:     map[string]Login{},
		URLs:       map[string]string{},
	}
	if cfg, err := clientcmd.Load(data); err == nil {
		if c := cfg.Contexts[cfg.CurrentContext]; c != nil && cfg.Clusters[c.Cluster] != nil {
			creds.Endpoint = cfg.Clusters[c.Cluster].Server
		}
	}
	if path := r.Cluster.Path(talos.TalosconfigFile); fileExists(path) {
		creds.Talosconfig = path
	}
	kubectl := "kubectl --kubeconfig " + kubeconfigPath
	if r.Deps.MergeKubeconfig {
		name := kubeconfig.ContextName(s.Name)
		path := kubeconfig.DefaultPath()
		if err := kubeconfig.MergeFile(path, data, name); err != nil {
			return fmt.Errorf("merge the kubeconfig into %s: %w", path, err)
		}
		creds.KubeContext = name
		kubectl = "kubectl --context " + name
		r.Say("kubeconfig merged into %s as context %s", path, name)
	}

	comps, err := platform.SelectComponents(PlatformSelection(s))
	if err != nil {
		return err
	}
	if s.Platform.GitOpsRepo != "" {
		// The customer's repository decides what runs; Argo CD is still ours.
		comps = slices.DeleteFunc(comps, func(c platform.Component) bool { return c.Name != "argo-cd" })
	}
	for _, svc := range platform.Services(comps) {
		url := fmt.Sprintf("http://localhost:%d", svc.LocalPort)
		if s.DNS.Domain != "" {
			url = fmt.Sprintf("https://%s.%s.%s", svc.Host, s.Name, s.DNS.Domain)
		} else {
			if creds.PortForward == nil {
				creds.PortForward = map[string]string{}
			}
			creds.PortForward[svc.Title] = fmt.Sprintf("%s -n %s port-forward svc/%s %d:%d", kubectl, svc.Namespace, svc.Service, svc.LocalPort, svc.Port)
		}
		creds.URLs[svc.Title] = url
		if svc.Username == "" {
			continue
		}
		login := Login{URL: url, Username: svc.Username}
		if svc.Password != nil {
			pw, err := platform.ReadSecret(ctx, clusterKubeconfig, *svc.Password)
			if err != nil {
				return err
			}
			login.Password, login.Source = pw, svc.Password.String()
			if pw == "" {
				r.Warn("%s password: %s is gone (changed and deleted?)", svc.Title, svc.Password)
			}
		}
		creds.Logins[svc.Title] = login
	}
	out, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	if err := r.Cluster.WriteSecret(CredentialsFile, append(out, '\n')); err != nil {
		return err
	}
	for _, title := range slices.Sorted(maps.Keys(creds.Logins)) {
		r.Say("%s: user %s, password in %s (`cto status --name %s --show-credentials`)", title, creds.Logins[title].Username, r.Cluster.Path(CredentialsFile), s.Name)
	}
	if len(creds.PortForward) > 0 {
		r.Say("no DNS: reach the UIs with the port-forward commands in %s", r.Cluster.Path(CredentialsFile))
	}
	return nil
}
