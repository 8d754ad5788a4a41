package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// helmConfig returns Helm's action configuration for one namespace.
func (in *Installer) helmConfig(namespace string) (*action.Configuration, error) {
	return HelmConfig(in.opts.Kubeconfig, namespace)
}

// HelmConfig returns Helm's action configuration for a kubeconfig and one
// namespace, with releases in Secrets (Helm's default driver) and Helm's
// own logging off: cto reports progress itself.
func HelmConfig(kubeconfig, namespace string) (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig, getter.Namespace = &kubeconfig, &namespace
	if err := cfg.Init(getter, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	return cfg, nil
}

// helmRelease installs or upgrades the component's release (Helm's
// upgrade --install). A release already at the same chart version with the
// same values is left alone, so a rerun changes nothing.
func (in *Installer) helmRelease(ctx context.Context, c Component) (changed bool, err error) {
	cfg, err := in.helmConfig(c.Namespace)
	if err != nil {
		return false, err
	}
	last, err := lastRelease(cfg, c.Name)
	if err != nil {
		return false, fmt.Errorf("helm release %s: %w", c.Name, err)
	}
	if last != nil && last.Info.Status == common.StatusDeployed && last.Chart.Metadata.Version == c.Version && sameValues(last.Config, c.Values) {
		return false, nil
	}
	if last != nil && last.Info.Status.IsPending() {
		// An earlier run stopped mid-operation (the deploy lock keeps two
		// cto runs apart). Mark it failed so Helm upgrades over it.
		last.SetStatus(common.StatusFailed, "interrupted; resumed by cto")
		if err := cfg.Releases.Update(last); err != nil {
			return false, fmt.Errorf("helm release %s is %s from an interrupted run and cannot be resumed: %w", c.Name, last.Info.Status, err)
		}
	}
	ch, err := in.charts.load(ctx, RepoURL(c, in.opts.ChartMirror), c.Chart, c.Version)
	if err != nil {
		return false, err
	}
	if last == nil {
		inst := action.NewInstall(cfg)
		inst.ReleaseName = c.Name
		inst.Namespace = c.Namespace
		inst.Timeout = 5 * time.Minute
		inst.WaitStrategy = kube.HookOnlyStrategy // cto waits for health itself
		if _, err := inst.RunWithContext(ctx, ch, c.Values); err != nil {
			return false, fmt.Errorf("helm install %s %s: %w", c.Chart, c.Version, err)
		}
		return true, nil
	}
	if err := in.upgradeCRDs(ctx, ch); err != nil {
		return false, err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = c.Namespace
	up.Timeout = 5 * time.Minute
	up.WaitStrategy = kube.HookOnlyStrategy
	up.MaxHistory = 10
	if _, err := up.RunWithContext(ctx, c.Name, ch, c.Values); err != nil {
		return false, fmt.Errorf("helm upgrade %s to %s %s: %w", c.Name, c.Chart, c.Version, err)
	}
	return true, nil
}

// lastRelease returns the newest revision of a release, or nil.
func lastRelease(cfg *action.Configuration, name string) (*release.Release, error) {
	hist, err := action.NewHistory(cfg).Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var last *release.Release
	for _, ri := range hist {
		r, ok := ri.(*release.Release)
		if !ok {
			return nil, fmt.Errorf("release %s: a revision of an unknown kind (%T)", name, ri)
		}
		if last == nil || r.Version > last.Version {
			last = r
		}
	}
	return last, nil
}

// deployedRelease returns the release that is deployed, or nil.
func (in *Installer) deployedRelease(c Component) (*release.Release, error) {
	cfg, err := in.helmConfig(c.Namespace)
	if err != nil {
		return nil, err
	}
	last, err := lastRelease(cfg, c.Name)
	if err != nil || last == nil || last.Info.Status != common.StatusDeployed {
		return nil, err
	}
	return last, nil
}

func sameValues(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// objectRef names one object of a component: a workload a release
// created, or a resource Argo CD reports for an Application.
type objectRef struct {
	Kind, Namespace, Name string
}

func (r objectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// releaseWorkloads lists the workloads in a release's manifest.
func releaseWorkloads(r *release.Release) ([]objectRef, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(r.Manifest)), 4096)
	var out []objectRef
	for {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read manifest of release %s: %w", r.Name, err)
		}
		switch obj.Kind {
		case "Deployment", "StatefulSet", "DaemonSet":
			ns := obj.Metadata.Namespace
			if ns == "" {
				ns = r.Namespace
			}
			out = append(out, objectRef{Kind: obj.Kind, Namespace: ns, Name: obj.Metadata.Name})
		}
	}
}
