// Package spec is the cluster specification: what the user asked for, from a
// cluster.yaml and flags, validated before anything is created.
package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// APIVersion and Kind head every cluster.yaml.
const (
	APIVersion = "cto.dev/v1alpha1"
	Kind       = "Cluster"
)

// Providers lists every --provider value.
var Providers = []string{"latitude", "hetzner", "hetzner-robot", "vultr", ProviderLocal, ProviderExisting}

// The --provider values that rent no servers.
const (
	ProviderLocal    = "local"
	ProviderExisting = "existing"
)

// Source is where a cluster's nodes come from. Each --provider value
// stands for one; code that behaves differently for a local or an existing
// cluster asks the spec's Source, never the provider's name.
type Source int

const (
	// Servers are rented at a provider: cto orders them and installs Talos.
	Servers Source = iota
	// Local is a kind cluster on this machine's container engine.
	Local
	// Existing is a cluster the user runs already, reached by --kubeconfig.
	Existing
)

// SourceOf is where the clusters of a --provider value come from.
func SourceOf(provider string) Source {
	switch provider {
	case ProviderLocal:
		return Local
	case ProviderExisting:
		return Existing
	}
	return Servers
}

// Source is where this cluster's nodes come from.
func (s *ClusterSpec) Source() Source { return SourceOf(s.Provider) }

// Profiles lists every --profile value.
var Profiles = []string{"minimal", "standard", "production"}

// ClusterSpec is a whole request for a cluster. The YAML names are the
// cluster.yaml keys; a flag of the same meaning overrides a file value.
type ClusterSpec struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`

	Name            string   `json:"name"`
	Provider        string   `json:"provider"`
	Region          string   `json:"region,omitempty"`
	FallbackRegions []string `json:"fallbackRegions,omitempty"`
	Plan            string   `json:"plan,omitempty"`
	WorkerPlan      string   `json:"workerPlan,omitempty"`
	Nodes           int      `json:"nodes"`
	ControlPlanes   int      `json:"controlPlanes,omitempty"`
	Profile         string   `json:"profile"`
	Project         string   `json:"project,omitempty"`
	GPU             bool     `json:"gpu,omitempty"`
	// GPUTaint taints the GPU workers nvidia.com/gpu=present:NoSchedule so
	// only pods that tolerate it run there; the control planes then take
	// the other workloads.
	GPUTaint bool   `json:"gpuTaint,omitempty"`
	License  string `json:"license,omitempty"`
	APIURL   string `json:"apiURL,omitempty"`
	// MaxMonthlyCost refuses a deploy whose estimate is higher; 0 is no cap.
	MaxMonthlyCost float64 `json:"maxMonthlyCost,omitempty"`
	// Servers are existing servers to adopt (providers that rent by number).
	Servers []string `json:"servers,omitempty"`

	// Order allows buying servers where the provider would otherwise adopt.
	Order bool `json:"order,omitempty"`

	Talos    Talos    `json:"talos,omitzero"`
	Network  Network  `json:"network,omitzero"`
	DNS      DNS      `json:"dns,omitzero"`
	Platform Platform `json:"platform,omitzero"`
	// Kubeconfig is the cluster to install on with provider existing.
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// Talos pins the operating system and Kubernetes.
type Talos struct {
	Version           string `json:"version,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	ImageFactoryURL   string `json:"imageFactoryURL,omitempty"`
}

// Network is the cluster's private network.
type Network struct {
	CIDR string `json:"cidr,omitempty"`
}

// DNS is the optional DNS step.
type DNS struct {
	Domain   string `json:"domain,omitempty"`
	Provider string `json:"provider,omitempty"`
}

// Platform configures the components installed on the cluster.
type Platform struct {
	GitHubRepo     string `json:"githubRepo,omitempty"`
	ChartMirror    string `json:"chartMirror,omitempty"`
	GitOpsRepo     string `json:"gitopsRepo,omitempty"`
	GitOpsPath     string `json:"gitopsPath,omitempty"`
	GitOpsRevision string `json:"gitopsRevision,omitempty"`
	// Timeout is how long to wait for components, as a Go duration.
	Timeout string `json:"timeout,omitempty"`
}

// DefaultPrivateCIDR is the nodes' private range when none is given.
const DefaultPrivateCIDR = "10.8.0.0/24"

// Defaults returns the spec of `cto deploy` with no flags and no file.
func Defaults() ClusterSpec {
	return ClusterSpec{
		APIVersion: APIVersion,
		Kind:       Kind,
		Name:       "cto",
		Provider:   ProviderLocal,
		Nodes:      1,
		Profile:    "minimal",
		Network:    Network{CIDR: DefaultPrivateCIDR},
	}
}

// Load reads a cluster.yaml over the defaults. Unknown keys are errors, so a
// typo never passes silently.
func Load(path string) (ClusterSpec, error) {
	data, err := readCapped(path)
	if err != nil {
		return ClusterSpec{}, err
	}
	s, err := Parse(data)
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			se.File = path
		}
		return ClusterSpec{}, err
	}
	return s, nil
}

// Parse decodes a cluster.yaml document over the defaults.
func Parse(data []byte) (ClusterSpec, error) {
	s := Defaults()
	if len(bytes.TrimSpace(data)) == 0 {
		return s, &Error{Field: "config", Reason: "is empty; run `cto init` for a starter file"}
	}
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return ClusterSpec{}, yamlError(err)
	}
	if s.APIVersion != APIVersion {
		return ClusterSpec{}, &Error{Field: "apiVersion", Value: s.APIVersion, Reason: "must be " + APIVersion}
	}
	if s.Kind != Kind {
		return ClusterSpec{}, &Error{Field: "kind", Value: s.Kind, Reason: "must be " + Kind}
	}
	return s, nil
}

// MaxFileSize caps a cluster.yaml: a real one is a few KiB, and a path
// such as /dev/zero must not be read until memory runs out.
const MaxFileSize = 1 << 20

// readCapped reads at most MaxFileSize bytes of path; more is an Error.
func readCapped(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, &Error{Field: "config", Value: path, Reason: "cannot be read: " + unwrapPathError(err)}
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, &Error{Field: "config", Value: path, Reason: "cannot be read: " + unwrapPathError(err)}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Field: "config", Value: path, Reason: "is larger than 1 MiB; a cluster.yaml is a few lines (run `cto init` for a starter file)"}
	}
	return data, nil
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

func yamlError(err error) error {
	msg := err.Error()
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return &Error{Field: m[1], Reason: "is not a known key (see `cto init` for every key)"}
	}
	// "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal
	// string into Go struct field ClusterSpec.nodes of type int"
	if i := strings.Index(msg, "Go struct field "); i >= 0 {
		rest := msg[i+len("Go struct field "):]
		field, typ, _ := strings.Cut(rest, " of type ")
		if j := strings.Index(field, "."); j >= 0 {
			field = field[j+1:]
		}
		return &Error{Field: field, Reason: "must be of type " + typ}
	}
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "unmarshal errors:", "")), " ")
	return &Error{Field: "config", Reason: "is not valid YAML: " + msg}
}

func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Error is one invalid value: which field, what it was, and what is allowed.
type Error struct {
	File   string
	Field  string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	if e.Value != "" {
		fmt.Fprintf(&b, " %q", e.Value)
	}
	b.WriteString(" ")
	b.WriteString(e.Reason)
	return b.String()
}

// Errors is every problem found in one spec, printed on one line.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

var (
	dnsLabel  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	slugLike  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	domainish = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// Complete fills in values that depend on others: control planes default to
// 3 for the production profile on rented servers, else 1.
func (s *ClusterSpec) Complete() {
	if s.ControlPlanes == 0 {
		s.ControlPlanes = 1
		if s.Profile == "production" && s.NeedsMachines() {
			s.ControlPlanes = 3
		}
	}
	s.Region = strings.ToUpper(s.Region)
	for i, r := range s.FallbackRegions {
		s.FallbackRegions[i] = strings.ToUpper(r)
	}
}

// Validate checks the whole spec and returns every problem at once (an
// Errors), or nil.
func (s *ClusterSpec) Validate() error {
	var errs Errors
	bad := func(field, value, reason string) {
		errs = append(errs, &Error{Field: field, Value: value, Reason: reason})
	}

	if len(s.Name) > 40 || !dnsLabel.MatchString(s.Name) {
		bad("name", s.Name, "must be a DNS label: 1-40 lower-case letters, digits or '-', starting and ending with a letter or digit")
	}
	if !contains(Providers, s.Provider) {
		bad("provider", s.Provider, "is not supported; use one of "+strings.Join(Providers, ", "))
	}
	if !contains(Profiles, s.Profile) {
		bad("profile", s.Profile, "is not a profile; use one of "+strings.Join(Profiles, ", "))
	}
	if s.Nodes < 1 {
		bad("nodes", fmt.Sprint(s.Nodes), "must be at least 1")
	}
	switch s.ControlPlanes {
	case 1, 3, 5:
		if s.Nodes >= 1 && s.ControlPlanes > s.Nodes {
			bad("controlPlanes", fmt.Sprint(s.ControlPlanes), fmt.Sprintf("must not exceed nodes (%d)", s.Nodes))
		}
	default:
		bad("controlPlanes", fmt.Sprint(s.ControlPlanes), "must be 1, 3 or 5 (etcd needs an odd number)")
	}
	if s.Profile == "production" && s.ControlPlanes != 3 && s.ControlPlanes != 5 && s.Source() == Servers {
		bad("controlPlanes", fmt.Sprint(s.ControlPlanes), "must be 3 or 5 for the production profile (high availability)")
	}
	if s.Region != "" && !slugLike.MatchString(s.Region) {
		bad("region", s.Region, "is not a region slug (letters, digits, '-', e.g. DAL)")
	}
	for _, r := range s.FallbackRegions {
		if !slugLike.MatchString(r) {
			bad("fallbackRegions", r, "is not a region slug (letters, digits, '-', e.g. MIA2)")
		}
	}
	if s.Plan != "" && !slugLike.MatchString(s.Plan) {
		bad("plan", s.Plan, "is not a plan slug (e.g. c2-small-x86); list them with `cto plans`")
	}
	if s.WorkerPlan != "" && !slugLike.MatchString(s.WorkerPlan) {
		bad("workerPlan", s.WorkerPlan, "is not a plan slug (e.g. c2-large-x86); list them with `cto plans`")
	}
	if s.GPUTaint {
		switch {
		case !s.GPU:
			bad("gpuTaint", "true", "needs gpu: true (--gpu); only GPU nodes are tainted")
		case s.Workers() < 1:
			bad("gpuTaint", "true", "needs workers (nodes above controlPlanes): the GPU workers are tainted and the control planes take the other workloads")
		}
	}
	if s.MaxMonthlyCost < 0 {
		bad("maxMonthlyCost", fmt.Sprint(s.MaxMonthlyCost), "must be 0 (no cap) or a positive amount")
	}
	if s.Network.CIDR != "" {
		p, err := netip.ParsePrefix(s.Network.CIDR)
		switch {
		case err != nil:
			bad("network.cidr", s.Network.CIDR, "is not a CIDR (e.g. 10.8.0.0/24)")
		case !p.Addr().Is4() || !p.Addr().IsPrivate():
			bad("network.cidr", s.Network.CIDR, "must be a private IPv4 range (10/8, 172.16/12 or 192.168/16)")
		case p.Bits() > 28:
			bad("network.cidr", s.Network.CIDR, "is too small; use /28 or larger")
		}
	}
	if s.DNS.Domain != "" && !domainish.MatchString(s.DNS.Domain) {
		bad("dns.domain", s.DNS.Domain, "is not a domain name (e.g. example.com)")
	}
	if s.DNS.Domain != "" && s.DNS.Provider == "" {
		bad("dns.provider", "", "is required with dns.domain (e.g. cloudflare)")
	}
	if s.Platform.GitHubRepo != "" {
		if org, repo, ok := strings.Cut(s.Platform.GitHubRepo, "/"); !ok || org == "" || repo == "" || strings.Contains(repo, "/") {
			bad("platform.githubRepo", s.Platform.GitHubRepo, "must be org/repo")
		}
	}
	if s.Platform.Timeout != "" {
		if d, err := time.ParseDuration(s.Platform.Timeout); err != nil || d <= 0 {
			bad("platform.timeout", s.Platform.Timeout, "must be a positive duration (e.g. 20m)")
		}
	}
	if s.Source() == Existing && s.Kubeconfig == "" {
		bad("kubeconfig", "", "is required with provider existing (--kubeconfig PATH)")
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// NeedsMachines reports whether the provider rents servers that cto installs
// Talos on (as opposed to a local or existing cluster).
func (s *ClusterSpec) NeedsMachines() bool {
	return s.Source() == Servers
}

// Workers is the number of worker nodes.
func (s *ClusterSpec) Workers() int { return s.Nodes - s.ControlPlanes }

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
