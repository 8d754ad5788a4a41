package deploy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/dns/cloudflare"
	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

// Files the platform and credentials steps keep in the cluster's folder.
const (
	CredentialsFile = "credentials.json"
	// chartCache keeps downloaded charts so a rerun needs no network.
	chartCache = "charts"
)

type platformStep struct{}

func (platformStep) Name() string { return StepPlatform }

// AlwaysRun: every deploy converges the platform to the catalog (an
// upgrade after a new cto, a repair after drift); an unchanged platform is
// left untouched.
func (platformStep) AlwaysRun() bool { return true }

// ClusterKubeconfig is the admin kubeconfig the platform is installed with:
// the user's file for provider existing, else the one the kubernetes step
// wrote into the cluster's folder.
func ClusterKubeconfig(r *pipeline.Run) string {
	if r.Deps.Spec.Source() == spec.Existing {
		return r.Deps.Spec.Kubeconfig
	}
	return r.Cluster.Path(kubeconfig.File)
}

// PlatformSelection is which catalog components the spec asks for.
func PlatformSelection(s spec.ClusterSpec) platform.Selection {
	sel := platform.Selection{Profile: s.Profile, GPU: s.GPU, Talos: s.NeedsMachines()}
	if s.DNS.Domain != "" {
		// The DNS step points *.<cluster>.<domain> at the ingress nodes.
		sel.Domain = s.Name + "." + s.DNS.Domain
		if s.DNS.Provider != "" && os.Getenv(dnsTokenEnv(s.DNS.Provider)) != "" {
			sel.ACMEDNS = s.DNS.Provider
			// Another ACME directory, such as Let's Encrypt's staging one.
			sel.ACMEServer = os.Getenv("CTO_ACME_SERVER")
		}
	}
	return sel
}

// dnsTokenEnv is the variable holding a DNS provider's API token (the one
// --dns-provider reads).
func dnsTokenEnv(provider string) string {
	if provider == "cloudflare" {
		return cloudflare.EnvToken
	}
	return ""
}

// platformSelection adds what the provider's network sets to the spec's
// selection.
func platformSelection(r *pipeline.Run) platform.Selection {
	sel := PlatformSelection(r.Deps.Spec)
	if p := r.Deps.Provider; p != nil && sel.Talos {
		sel.NetworkMTU = p.Capabilities().PrivateMTU
	}
	return sel
}

func (platformStep) Run(ctx context.Context, r *pipeline.Run) error {
	s := r.Deps.Spec
	timeout := platform.DefaultTimeout
	if s.Platform.Timeout != "" {
		var err error
		if timeout, err = time.ParseDuration(s.Platform.Timeout); err != nil || timeout <= 0 {
			return fmt.Errorf("platform.timeout %q is not a positive Go duration (e.g. 20m)", s.Platform.Timeout)
		}
	}
	repo, err := githubRepo(r)
	if err != nil {
		return err
	}
	kubeconfig := ClusterKubeconfig(r)
	version, err := waitAPIServer(ctx, r, kubeconfig)
	if err != nil {
		return err
	}
	r.Say("cluster reachable: Kubernetes %s", version)

	in, err := PlatformInstaller(r)
	if err != nil {
		return err
	}
	comps := in.Components()
	r.Say("profile %s: %s", s.Profile, componentList(comps))
	progress := func(component, status, msg string) { r.NodeEvent(component, status, "", msg) }
	if err := in.Install(ctx, progress); err != nil {
		return err
	}
	r.Say("waiting up to %s for every component to be Synced and Healthy", timeout)
	if err := in.Wait(ctx, timeout, progress); err != nil {
		return err
	}

	cfg := platform.NewConfig(s.Name, s.Provider, repo, PlatformSelection(s), comps).JSON()
	if err := state.WriteFile(r.Cluster.Path(platform.ConfigFile), cfg, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", platform.ConfigFile, err)
	}
	if err := in.StoreConfig(ctx, cfg); err != nil {
		return err
	}
	r.Say("%s written to %s and stored as ConfigMap %s/%s", platform.ConfigFile, r.Cluster.Path(platform.ConfigFile), platform.PlatformNamespace, platform.ConfigMapName)
	return nil
}

// PlatformInstaller is the installer of the cluster's platform, as the
// platform step installs and upgrades it.
func PlatformInstaller(r *pipeline.Run) (*platform.Installer, error) {
	s := r.Deps.Spec
	return platform.New(platform.Options{
		Kubeconfig:  ClusterKubeconfig(r),
		Selection:   platformSelection(r),
		ChartMirror: s.Platform.ChartMirror,
		GitOps:      platform.GitOps{Repo: s.Platform.GitOpsRepo, Path: s.Platform.GitOpsPath, Revision: s.Platform.GitOpsRevision},
		CacheDir:    r.Cluster.Path(chartCache),
		DNSToken:    os.Getenv(dnsTokenEnv(s.DNS.Provider)),
	})
}

// DryRun shows what would be installed from where, and checks that an
// existing cluster answers; it changes nothing.
func (platformStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	s := r.Deps.Spec
	if s.Source() == spec.Existing {
		version, err := platform.CheckReachable(ctx, s.Kubeconfig)
		if err != nil {
			return err
		}
		r.Say("cluster reachable: Kubernetes %s", version)
	}
	comps, err := platform.SelectComponents(PlatformSelection(s))
	if err != nil {
		return err
	}
	for _, c := range comps {
		how := "Argo CD Application"
		if c.Bootstrap {
			how = "Helm release"
		}
		r.Say("would install %s %s %s from %s into namespace %s (%s)", c.Name, c.Chart, c.Version, platform.RepoURL(c, s.Platform.ChartMirror), c.Namespace, how)
	}
	if s.Platform.GitOpsRepo != "" {
		r.Say("would point Argo CD at %s instead of the catalog's Applications", s.Platform.GitOpsRepo)
	}
	return nil
}

// githubRepo is the org/repo for cto-config: the spec's, the one asked for
// on an earlier run, or asked for now on a terminal. Without one the config
// is written with an empty repository and a warning.
func githubRepo(r *pipeline.Run) (string, error) {
	if repo := r.Deps.Spec.Platform.GitHubRepo; repo != "" {
		return repo, nil
	}
	if repo := r.Journal.FactsCopy().GitHubRepo; repo != "" {
		return repo, nil
	}
	if r.Deps.Ask != nil && r.Deps.Interactive {
		answer, err := r.Deps.Ask("GitHub organization/repository the platform works on (org/repo, empty to skip)")
		if err != nil {
			return "", err
		}
		answer = strings.TrimSpace(answer)
		if org, name, ok := strings.Cut(answer, "/"); ok && org != "" && name != "" && !strings.Contains(name, "/") {
			return answer, r.Journal.SetFacts(func(f *state.Facts) { f.GitHubRepo = answer })
		}
		if answer != "" {
			r.Warn("%q is not org/repo; leaving the repository empty", answer)
		}
	}
	r.Warn("no GitHub repository: cto-config.json names none; deploy again with --github-repo org/repo to set it")
	return "", nil
}

func componentList(comps []platform.Component) string {
	parts := make([]string, len(comps))
	for i, c := range comps {
		parts[i] = c.Name + " " + c.Version
	}
	return strings.Join(parts, ", ")
}

// fileExists reports whether a path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// apiServerTimeout bounds the wait for a new cluster's API server: Talos
// hands out the kubeconfig as soon as a control plane has its config, and
// the API server answers minutes after etcd started.
const apiServerTimeout = 15 * time.Minute

// waitAPIServer polls the API server's /readyz on the run's clock until it
// answers ready, saying every minute what it is waiting for. A cluster
// cto did not create must answer at once.
func waitAPIServer(ctx context.Context, r *pipeline.Run, kubeconfig string) (string, error) {
	probe := max(clock.Wall(r.Clock, 15*time.Second), time.Second)
	if r.Deps.Spec.Source() == spec.Existing {
		return platform.CheckReachable(ctx, kubeconfig)
	}
	start, said := r.Clock.Now(), r.Clock.Now()
	var version string
	var last error
	err := r.WaitFor(ctx, 5*time.Second, func() bool {
		version, last = platform.ProbeReady(ctx, kubeconfig, probe)
		if last == nil {
			return true
		}
		now := r.Clock.Now()
		if now.Sub(start) >= apiServerTimeout {
			return true
		}
		if now.Sub(said) >= time.Minute {
			said = now
			r.Say("waiting for the Kubernetes API server (%s so far): %v", now.Sub(start).Round(time.Second), last)
		}
		return false
	})
	switch {
	case err != nil:
		return "", err
	case last != nil:
		return "", fmt.Errorf("the Kubernetes API server did not answer ready within %s: %w", apiServerTimeout, last)
	}
	return version, nil
}
