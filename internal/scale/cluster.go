package scale

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/drain"
	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// Cluster is a running cluster as scale and replace reach it.
type Cluster struct {
	Talos *talos.Client
	Kube  kubernetes.Interface
	// DrainTimeout bounds how long one node's drain may wait for its
	// PodDisruptionBudgets (default 10 minutes).
	DrainTimeout time.Duration
	// ForceDrain also evicts pods no controller manages.
	ForceDrain bool
}

// Connect reads the cluster's talosconfig and kubeconfig. The kubeconfig
// names one control plane's address; when that one does not answer (the
// very node being replaced may be dead), another control plane's API
// server is used: every control plane's address is in the certificate.
func Connect(ctx context.Context, r *pipeline.Run, avoid string) (*Cluster, error) {
	tc, err := deploy.TalosClient(r)
	if err != nil {
		return nil, err
	}
	cfg, _, err := platform.Connect(r.Cluster.Path(kubeconfig.File))
	if err != nil {
		return nil, err
	}
	kube, err := reachable(ctx, cfg, r.Journal.NodesCopy(), avoid)
	if err != nil {
		return nil, err
	}
	return &Cluster{Talos: tc, Kube: kube}, nil
}

// reachable is a client of the first API server that answers: the
// kubeconfig's, then each control plane's but avoid's.
func reachable(ctx context.Context, cfg *rest.Config, nodes []state.Node, avoid string) (kubernetes.Interface, error) {
	hosts := []string{cfg.Host}
	u, err := url.Parse(cfg.Host)
	if err == nil {
		port := u.Port()
		if port == "" {
			port = "443"
		}
		for _, n := range deploy.ControlPlanes(nodes) {
			if n.Name != avoid && n.PublicIP != "" {
				h := *u
				h.Host = net.JoinHostPort(n.PublicIP, port)
				if s := h.String(); !slices.Contains(hosts, s) {
					hosts = append(hosts, s)
				}
			}
		}
	}
	var errs []error
	for _, host := range hosts {
		c := rest.CopyConfig(cfg)
		c.Host = host
		probe := rest.CopyConfig(c)
		probe.Timeout = 5 * time.Second
		pk, err := kubernetes.NewForConfig(probe)
		if err != nil {
			return nil, err
		}
		if _, err := pk.Discovery().ServerVersion(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", host, err))
			continue
		}
		return kubernetes.NewForConfig(c)
	}
	return nil, fmt.Errorf("no Kubernetes API server of the cluster answers: %w", errors.Join(errs...))
}

// Schedulable says whether the control planes take ordinary workloads:
// none of their Node objects carries the control-plane NoSchedule taint.
func (c *Cluster) Schedulable(ctx context.Context, nodes []state.Node) (bool, error) {
	for _, cp := range deploy.ControlPlanes(nodes) {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, cp.Name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("read node %s: %w", cp.Name, err)
		}
		for _, t := range n.Spec.Taints {
			if t.Key == "node-role.kubernetes.io/control-plane" && (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) {
				return false, nil
			}
		}
	}
	return true, nil
}

func (c *Cluster) drainTimeout() time.Duration {
	if c.DrainTimeout > 0 {
		return c.DrainTimeout
	}
	return 10 * time.Minute
}

// Drain cordons a node and evicts its pods, PodDisruptionBudgets
// respected. A node whose drain fails is made schedulable again: it stays
// in the cluster and serves as before.
func (c *Cluster) Drain(ctx context.Context, r *pipeline.Run, n state.Node) error {
	r.NodeEvent(n.Name, "draining", n.PublicIP, "cordoned; evicting its pods")
	err := drain.Drain(ctx, c.Kube, n.Name, drain.Options{Timeout: c.drainTimeout(), Force: c.ForceDrain,
		Logf: func(format string, args ...any) {
			r.NodeEvent(n.Name, "draining", n.PublicIP, fmt.Sprintf(format, args...))
		}})
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		if uerr := drain.Uncordon(context.WithoutCancel(ctx), c.Kube, n.Name); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}
	return fmt.Errorf("%s stays in the cluster, uncordoned: %w", n.Name, err)
}

// hasNode says whether the Node object exists.
func (c *Cluster) hasNode(ctx context.Context, name string) (bool, error) {
	_, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("read node %s: %w", name, err)
}

// WaitReady waits on the wall clock, as Kubernetes runs, until every
// named node is Ready.
func (c *Cluster) WaitReady(ctx context.Context, r *pipeline.Run, names []string) error {
	deadline := time.Now().Add(r.Deps.Talos.NodeDeadline())
	for _, name := range names {
		r.NodeEvent(name, "joining", "", "waiting for its kubelet to be Ready")
		for {
			n, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil && drain.Ready(n) {
				r.NodeEvent(name, "ready", "", "Ready in Kubernetes")
				break
			}
			why := "its kubelet is not Ready"
			if err != nil {
				why = err.Error()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not become a Ready node within %s: %s", name, r.Deps.Talos.NodeDeadline(), why)
			}
			if err := (clock.Real{}).Sleep(ctx, 500*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// Member is one etcd member with whether its control plane's etcd
// answers.
type Member struct {
	talos.EtcdMember
	Healthy bool
}

// Etcd lists etcd's members through the control planes that answer, and
// names one healthy control plane other than avoid to act through.
func (c *Cluster) Etcd(ctx context.Context, r *pipeline.Run, avoid string) (members []Member, via *state.Node, err error) {
	healthy := map[string]bool{}
	var list []talos.EtcdMember
	var errs []error
	for _, cp := range deploy.ControlPlanes(r.Journal.NodesCopy()) {
		if cp.PublicIP == "" {
			continue
		}
		got, err := c.Talos.EtcdMemberList(ctx, r.Deps.Talos.Endpoint(cp.PublicIP))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", cp.Name, err))
			continue
		}
		healthy[cp.Name] = true
		if list == nil {
			list = got
		}
		if via == nil && cp.Name != avoid {
			n := cp
			via = &n
		}
	}
	if list == nil {
		return nil, nil, fmt.Errorf("etcd answers on no control plane: %w", errors.Join(errs...))
	}
	for _, m := range list {
		members = append(members, Member{EtcdMember: m, Healthy: healthy[m.Hostname]})
	}
	return members, via, nil
}

// quorum is raft's majority of n voting members.
func quorum(n int) int { return n/2 + 1 }

// CheckRemoval says whether removing node's etcd member keeps quorum:
// the members left must hold a majority of healthy ones. nil when the
// node is no member.
func CheckRemoval(members []Member, node string) error {
	i := slices.IndexFunc(members, func(m Member) bool { return m.Hostname == node })
	if i < 0 {
		return nil
	}
	if len(members) == 1 {
		return inputf("%s holds the only etcd member: removing it would lose the cluster; a single control plane cannot be replaced (grow to 3 with `cto scale --control-planes 3` first)", node)
	}
	healthy := 0
	for j, m := range members {
		if j != i && m.Healthy {
			healthy++
		}
	}
	if left := len(members) - 1; healthy < quorum(left) {
		var down []string
		for j, m := range members {
			if j != i && !m.Healthy {
				down = append(down, m.Hostname)
			}
		}
		return inputf("removing %s from etcd would leave %d healthy of %d members, below quorum (%d); etcd does not answer on %s: replace that one first",
			node, healthy, left, quorum(left), strings.Join(down, ", "))
	}
	return nil
}

// EtcdWhole waits until etcd answers on every control plane of the
// journal and each lists exactly those as voting members.
func (c *Cluster) EtcdWhole(ctx context.Context, r *pipeline.Run) error {
	cps := deploy.ControlPlanes(r.Journal.NodesCopy())
	want := make([]string, len(cps))
	for i, cp := range cps {
		want[i] = cp.Name
	}
	slices.Sort(want)
	deadline := r.Clock.Now().Add(r.Deps.Talos.NodeDeadline())
	for {
		why := ""
		for _, cp := range cps {
			members, err := c.Talos.EtcdMemberList(ctx, r.Deps.Talos.Endpoint(cp.PublicIP))
			if err != nil {
				why = fmt.Sprintf("etcd on %s does not answer: %v", cp.Name, err)
				break
			}
			var got []string
			for _, m := range members {
				if m.Learner {
					why = m.Hostname + " is still a learner"
				}
				got = append(got, m.Hostname)
			}
			slices.Sort(got)
			if why == "" && !slices.Equal(got, want) {
				why = fmt.Sprintf("%s lists the members %s, the cluster has %s", cp.Name, strings.Join(got, ", "), strings.Join(want, ", "))
			}
			if why != "" {
				break
			}
		}
		if why == "" {
			return nil
		}
		if !r.Clock.Now().Before(deadline) {
			return fmt.Errorf("etcd whole with all %d members: not after %s: %s", len(cps), r.Deps.Talos.NodeDeadline(), why)
		}
		if err := r.Clock.Sleep(ctx, r.Deps.Talos.PollInterval()); err != nil {
			return err
		}
	}
}
