package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/cto-platform/cto/internal/spec"
)

// specFlag is a deploy flag that sets one field of the cluster spec (as
// opposed to how this run behaves). Declared once here, it is defined on
// the command and, when given, laid over the cluster.yaml's value.
type specFlag struct {
	name  string
	field func(*spec.ClusterSpec) any // a pointer to the field it sets
	usage string
}

var specFlags = []specFlag{
	{"name", func(s *spec.ClusterSpec) any { return &s.Name }, "cluster name: a DNS label of at most 40 characters; tags every resource"},
	{"provider", func(s *spec.ClusterSpec) any { return &s.Provider }, "where servers come from: " + strings.Join(spec.Providers, "|") + "; cheapest: rank them all (see `cto plans --cheapest`) and deploy the top row"},
	{"plan", func(s *spec.ClusterSpec) any { return &s.Plan }, "server plan slug, e.g. c2-small-x86 (see `cto plans`); asked for on a terminal when missing"},
	{"worker-plan", func(s *spec.ClusterSpec) any { return &s.WorkerPlan }, "plan for worker nodes (default: --plan)"},
	{"nodes", func(s *spec.ClusterSpec) any { return &s.Nodes }, "total number of servers, control planes included"},
	{"control-planes", func(s *spec.ClusterSpec) any { return &s.ControlPlanes }, "control-plane nodes: 1, 3 or 5 (default 1; 3 for --profile production)"},
	{"region", func(s *spec.ClusterSpec) any { return &s.Region }, "site or location slug, e.g. DAL (see `cto regions`)"},
	{"fallback-regions", func(s *spec.ClusterSpec) any { return &s.FallbackRegions }, "regions to try, in order, when the plan is out of stock in --region"},
	{"profile", func(s *spec.ClusterSpec) any { return &s.Profile }, "platform profile: " + strings.Join(spec.Profiles, "|")},
	{"license", func(s *spec.ClusterSpec) any { return &s.License }, "license file or token (env CTO_LICENSE); none means the Free tier"},
	{"project", func(s *spec.ClusterSpec) any { return &s.Project }, "provider project ID or slug (Latitude: env LATITUDESH_PROJECT)"},
	{"gpu", func(s *spec.ClusterSpec) any { return &s.GPU }, "add NVIDIA GPU support (GPU plans, drivers and the device plugin)"},
	{"gpu-taint", func(s *spec.ClusterSpec) any { return &s.GPUTaint }, "with --gpu: taint the GPU workers nvidia.com/gpu=present:NoSchedule so only pods that tolerate it run there; the control planes take the other workloads"},
	{"max-monthly-cost", func(s *spec.ClusterSpec) any { return &s.MaxMonthlyCost }, "refuse before creating anything when the monthly estimate is higher (in the provider's currency; 0: no cap)"},
	{"api-url", func(s *spec.ClusterSpec) any { return &s.APIURL }, "provider API endpoint (for testing or a proxy)"},
	{"servers", func(s *spec.ClusterSpec) any { return &s.Servers }, "existing servers to adopt, by provider ID or number (hetzner-robot)"},
	{"order", func(s *spec.ClusterSpec) any { return &s.Order }, "allow ordering new servers where the provider otherwise adopts (hetzner-robot)"},
	{"talos-version", func(s *spec.ClusterSpec) any { return &s.Talos.Version }, "Talos Linux version (default: the version cto was built with)"},
	{"kubernetes-version", func(s *spec.ClusterSpec) any { return &s.Talos.KubernetesVersion }, "Kubernetes version (default: Talos's default for its version)"},
	{"image-factory-url", func(s *spec.ClusterSpec) any { return &s.Talos.ImageFactoryURL }, "Talos Image Factory (default https://factory.talos.dev; env CTO_IMAGE_FACTORY_URL)"},
	{"private-cidr", func(s *spec.ClusterSpec) any { return &s.Network.CIDR }, "private addresses of the nodes on the cluster's VLAN"},
	{"domain", func(s *spec.ClusterSpec) any { return &s.DNS.Domain }, "create DNS records api.<name>.<domain> and *.<name>.<domain>"},
	{"dns-provider", func(s *spec.ClusterSpec) any { return &s.DNS.Provider }, "DNS provider for --domain: cloudflare"},
	{"github-repo", func(s *spec.ClusterSpec) any { return &s.Platform.GitHubRepo }, "GitHub org/repo the platform works on (asked for on a terminal)"},
	{"chart-mirror", func(s *spec.ClusterSpec) any { return &s.Platform.ChartMirror }, "fetch every chart from this mirror (air-gapped installs; env CTO_CHART_MIRROR)"},
	{"gitops-repo", func(s *spec.ClusterSpec) any { return &s.Platform.GitOpsRepo }, "install one app-of-apps from this Git repository instead of the catalog's Applications"},
	{"gitops-path", func(s *spec.ClusterSpec) any { return &s.Platform.GitOpsPath }, "path in --gitops-repo (default: the root)"},
	{"gitops-revision", func(s *spec.ClusterSpec) any { return &s.Platform.GitOpsRevision }, "revision of --gitops-repo (default: HEAD)"},
	{"kubeconfig", func(s *spec.ClusterSpec) any { return &s.Kubeconfig }, "with --provider existing: the kubeconfig of the cluster to install on"},
}

// timeoutFlag is the one spec flag whose value is not the field's type: a
// duration kept in the spec as text.
const timeoutFlag = "timeout"

// bindSpecFlags defines every spec flag on fs, writing into s; each shows
// s's value as its default.
func bindSpecFlags(fs *pflag.FlagSet, s *spec.ClusterSpec) {
	for _, f := range specFlags {
		switch p := f.field(s).(type) {
		case *string:
			fs.StringVar(p, f.name, *p, f.usage)
		case *int:
			fs.IntVar(p, f.name, *p, f.usage)
		case *bool:
			fs.BoolVar(p, f.name, *p, f.usage)
		case *float64:
			fs.Float64Var(p, f.name, *p, f.usage)
		case *[]string:
			fs.StringSliceVar(p, f.name, *p, f.usage)
		default:
			panic(fmt.Sprintf("spec flag --%s: no flag type for %T", f.name, p))
		}
	}
}

// applySpecFlags lays the spec flags the user gave (read into given) over s.
func applySpecFlags(fs *pflag.FlagSet, given, s *spec.ClusterSpec) {
	for _, f := range specFlags {
		if !fs.Changed(f.name) {
			continue
		}
		switch dst := f.field(s).(type) {
		case *string:
			*dst = *f.field(given).(*string)
		case *int:
			*dst = *f.field(given).(*int)
		case *bool:
			*dst = *f.field(given).(*bool)
		case *float64:
			*dst = *f.field(given).(*float64)
		case *[]string:
			*dst = *f.field(given).(*[]string)
		}
	}
}

// isSpecFlag says whether a flag describes the cluster.
func isSpecFlag(name string) bool {
	if name == timeoutFlag {
		return true
	}
	for _, f := range specFlags {
		if f.name == name {
			return true
		}
	}
	return false
}
