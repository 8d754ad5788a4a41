package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/talos"
)

// Deps are the collaborators a deploy's steps use. The command fills in
// what the chosen provider and flags need; steps check for nil where a
// collaborator is optional.
type Deps struct {
	Spec     spec.ClusterSpec
	Provider provider.Provider
	// Confirm asks the user to go ahead (nil: no terminal; refuse unless Yes).
	Confirm func(question string) (bool, error)
	// Yes is --yes: proceed without asking.
	Yes bool
	// Interactive is true when a person is at a terminal.
	Interactive bool
	// MergeKubeconfig merges the cluster's kubeconfig into the user's.
	MergeKubeconfig bool
	// Ask asks the user for a line of text (nil: no terminal).
	Ask func(question string) (string, error)

	// BootMedia says how a new server boots Talos: the servers step calls
	// it once per node class (gpu or not) before creating servers. Nil
	// means no Talos boot media is wired: the servers step then boots
	// PlaceholderBootURL and warns.
	BootMedia func(ctx context.Context, r *Run, gpu bool) (provider.Boot, error)

	// ServerTimeout is how long a server may stay deploying before it is
	// replaced (0: 30 minutes). ExpectedDeploy is how long a deploy usually
	// takes, which paces polling (0: 10 minutes).
	ServerTimeout  time.Duration
	ExpectedDeploy time.Duration

	// Talos tunes how the talos and kubernetes steps reach nodes (ports and
	// waits for tests); the zero value is right for real clusters.
	Talos TalosOptions

	// LocalCluster creates the kind cluster of provider local (nil for
	// every other provider).
	LocalCluster LocalCluster
	// DNS is the DNS provider of --dns-provider, set when --domain is given.
	DNS dns.Provider
}

// Approve asks to go ahead with question: --yes approves, a terminal asks,
// and anything else refuses with a message saying to pass --yes.
func (d *Deps) Approve(question string) error {
	if d.Yes {
		return nil
	}
	if d.Confirm == nil {
		return fmt.Errorf("%s: no terminal to confirm on; pass --yes to proceed", question)
	}
	ok, err := d.Confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return ErrDeclined
	}
	return nil
}

// ErrDeclined is the user answering no.
var ErrDeclined = errors.New("declined; nothing was created")

// LocalCluster makes the cluster of provider local (kind): Create is
// idempotent and returns the admin kubeconfig, its context named
// cto-<name>.
type LocalCluster interface {
	Create(ctx context.Context, name string, nodes int) (kubeconfig []byte, err error)
}

// TalosOptions tune how the talos and kubernetes steps reach nodes. Zero
// values are the production defaults.
type TalosOptions struct {
	// APIPort is the nodes' Talos API port (default 50000); tests run fake
	// nodes on other ports.
	APIPort int
	// NodeTimeout is how long a node may take to reach maintenance mode, take
	// its config and prove it, and how long bootstrap may retry (default 15m).
	NodeTimeout time.Duration
	// Poll is the pause between probes of a node (default 5s).
	Poll time.Duration
	// ApplyTimeout bounds one ApplyConfiguration call (default 1m).
	ApplyTimeout time.Duration
	// FactoryHTTP is the Image Factory's HTTP client (default: 30s timeout).
	FactoryHTTP *http.Client
	// PrivateLinkSelector overrides the CEL selector of the VLAN's parent NIC.
	PrivateLinkSelector string
}

// NodeDeadline is NodeTimeout or its default.
func (o TalosOptions) NodeDeadline() time.Duration {
	if o.NodeTimeout > 0 {
		return o.NodeTimeout
	}
	return 15 * time.Minute
}

// PollInterval is Poll or its default.
func (o TalosOptions) PollInterval() time.Duration {
	if o.Poll > 0 {
		return o.Poll
	}
	return 5 * time.Second
}

// ApplyDeadline is ApplyTimeout or its default.
func (o TalosOptions) ApplyDeadline() time.Duration {
	if o.ApplyTimeout > 0 {
		return o.ApplyTimeout
	}
	return time.Minute
}

// Endpoint is a node's Talos API address.
func (o TalosOptions) Endpoint(ip string) string {
	if o.APIPort == 0 || o.APIPort == talos.APIPort {
		return ip
	}
	return net.JoinHostPort(ip, strconv.Itoa(o.APIPort))
}
