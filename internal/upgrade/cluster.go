package upgrade

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/drain"
	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// RuleError is a request the version rules refuse: nothing ran.
type RuleError struct{ Err error }

func (e *RuleError) Error() string { return e.Err.Error() }
func (e *RuleError) Unwrap() error { return e.Err }

// Cluster is a running cluster as the day-2 commands reach it: its nodes'
// Talos APIs and its Kubernetes API, with the credentials in its folder.
type Cluster struct {
	Talos *talos.Client
	Kube  kubernetes.Interface
	// DrainTimeout bounds how long one node's drain may wait for its
	// PodDisruptionBudgets (default 10 minutes).
	DrainTimeout time.Duration
	// ForceDrain also evicts pods no controller manages.
	ForceDrain bool
}

// Connect reads the cluster's talosconfig and kubeconfig.
func Connect(r *pipeline.Run) (*Cluster, error) {
	tc, err := deploy.TalosClient(r)
	if err != nil {
		return nil, err
	}
	_, kube, err := platform.Connect(r.Cluster.Path(kubeconfig.File))
	if err != nil {
		return nil, err
	}
	return &Cluster{Talos: tc, Kube: kube}, nil
}

func (c *Cluster) drainTimeout() time.Duration {
	if c.DrainTimeout > 0 {
		return c.DrainTimeout
	}
	return 10 * time.Minute
}

// controlPlanes are the journal's control planes in index order, then
// its workers.
func nodesByRole(r *pipeline.Run) (cps, workers []state.Node) {
	for _, n := range r.Journal.NodesCopy() {
		if n.Role == talos.RoleControlPlane {
			cps = append(cps, n)
		} else {
			workers = append(workers, n)
		}
	}
	byIndex := func(a, b state.Node) int { return a.Index - b.Index }
	slices.SortFunc(cps, byIndex)
	slices.SortFunc(workers, byIndex)
	return cps, workers
}

// poll calls check every poll interval of the run's clock until it
// reports done, fails for good, or the node deadline passes; then the last
// reason it gave is the error. It waits on the nodes' Talos APIs.
func poll(ctx context.Context, r *pipeline.Run, what string, check func() (done bool, why string, err error)) error {
	return waitOn(ctx, r.Clock, r.Deps.Talos.NodeDeadline(), r.Deps.Talos.PollInterval(), what, check)
}

// pollKube is poll for what Kubernetes' own controllers and kubelets
// bring about: they run on the wall clock, whatever clock the run keeps.
func pollKube(ctx context.Context, r *pipeline.Run, what string, check func() (done bool, why string, err error)) error {
	return waitOn(ctx, clock.Real{}, r.Deps.Talos.NodeDeadline(), kubePoll, what, check)
}

// kubePoll is how often a wait on the Kubernetes API looks.
const kubePoll = 500 * time.Millisecond

func waitOn(ctx context.Context, clk clock.Clock, limit, every time.Duration, what string, check func() (bool, string, error)) error {
	deadline := clk.Now().Add(limit)
	for {
		done, why, err := check()
		if err != nil || done {
			return err
		}
		if !clk.Now().Before(deadline) {
			return fmt.Errorf("%s: not after %s: %s", what, limit, why)
		}
		if err := clk.Sleep(ctx, every); err != nil {
			return err
		}
	}
}

// EtcdHealthy waits until etcd answers on every control plane the journal
// knows and each lists exactly those control planes as voting members:
// only then may one of them go down without risking quorum.
func (c *Cluster) EtcdHealthy(ctx context.Context, r *pipeline.Run) error {
	cps, _ := nodesByRole(r)
	want := make([]string, len(cps))
	for i, cp := range cps {
		want[i] = cp.Name
	}
	slices.Sort(want)
	return poll(ctx, r, "etcd healthy with all "+fmt.Sprint(len(cps))+" members", func() (bool, string, error) {
		for _, cp := range cps {
			members, err := c.Talos.EtcdMemberList(ctx, r.Deps.Talos.Endpoint(cp.PublicIP))
			if err != nil {
				return false, fmt.Sprintf("etcd on %s does not answer: %v", cp.Name, err), nil
			}
			var got []string
			for _, m := range members {
				if m.Learner {
					return false, fmt.Sprintf("%s is still a learner", m.Hostname), nil
				}
				got = append(got, m.Hostname)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return false, fmt.Sprintf("%s lists the members %s, the cluster has %s", cp.Name, strings.Join(got, ", "), strings.Join(want, ", ")), nil
			}
		}
		return true, "", nil
	})
}

// Drain cordons a node and evicts its pods, respecting their
// PodDisruptionBudgets, on the wall clock as Kubernetes' controllers run. A pod no controller manages stops the drain
// unless ForceDrain: nothing would recreate it (Talos's own drain skips
// such pods and lets the reboot end them; cto asks first).
func (c *Cluster) Drain(ctx context.Context, r *pipeline.Run, n state.Node) error {
	r.NodeEvent(n.Name, "draining", n.PublicIP, "cordoned; evicting its pods")
	err := drain.Drain(ctx, c.Kube, n.Name, drain.Options{Timeout: c.drainTimeout(), Force: c.ForceDrain,
		Logf: func(format string, args ...any) {
			r.NodeEvent(n.Name, "draining", n.PublicIP, fmt.Sprintf(format, args...))
		}})
	if err != nil {
		return fmt.Errorf("drain %s: %w", n.Name, err)
	}
	return nil
}

// Back waits until the node's kubelet is Ready and satisfies ok, then
// lets pods onto it again.
func (c *Cluster) Back(ctx context.Context, r *pipeline.Run, n state.Node, what string, ok func(*corev1.Node) bool) error {
	err := pollKube(ctx, r, n.Name+" Ready "+what, func() (bool, string, error) {
		node, err := c.Kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		if !drain.Ready(node) {
			return false, "its kubelet is not Ready", nil
		}
		if !ok(node) {
			return false, "it reports " + node.Status.NodeInfo.OSImage + ", kubelet " + node.Status.NodeInfo.KubeletVersion, nil
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	return drain.Uncordon(ctx, c.Kube, n.Name)
}

// nodeVersions asks every node for the Talos version it runs.
func (c *Cluster) nodeVersions(ctx context.Context, r *pipeline.Run, nodes []state.Node) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, n := range nodes {
		v, err := c.Talos.Version(ctx, r.Deps.Talos.Endpoint(n.PublicIP))
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s (%s) does not answer its Talos API: %v", n.Name, n.PublicIP, err))
			continue
		}
		out[n.Name] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w; day-2 commands work on a cluster whose nodes all answer (replace a dead node with `cto replace`)", err)
	}
	return out, nil
}

// installer is the node's install image at version.
func installer(ctx context.Context, r *pipeline.Run, n state.Node, version string) (string, error) {
	return deploy.InstallerImage(ctx, r, n.Role, version)
}

// progress lists the journal's nodes that are done and those not yet.
func progress(j *state.Journal, what string, done func(state.Node) bool) string {
	var yes, no []string
	for _, n := range j.NodesCopy() {
		if done(n) {
			yes = append(yes, n.Name)
		} else {
			no = append(no, n.Name)
		}
	}
	list := func(l []string) string {
		if len(l) == 0 {
			return "none"
		}
		return strings.Join(l, ", ")
	}
	return fmt.Sprintf("%s: %s; not yet: %s", what, list(yes), list(no))
}
