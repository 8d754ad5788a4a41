package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// kubernetesStep bootstraps etcd on exactly one control plane and fetches
// the admin kubeconfig.
type kubernetesStep struct{}

func (kubernetesStep) Name() string { return StepKubernetes }

func (kubernetesStep) Skip(r *Run) (string, bool) {
	if r.Deps.Spec.Source() == spec.Existing {
		return "Kubernetes comes with a " + r.Deps.Spec.Provider + " cluster", true
	}
	return "", false
}

func (kubernetesStep) Run(ctx context.Context, r *Run) error {
	if r.Deps.Spec.Source() == spec.Local {
		return createLocalCluster(ctx, r)
	}
	client, err := talosClient(r)
	if err != nil {
		return err
	}
	cps := talosControlPlanes(r.Journal.NodesCopy())
	if len(cps) == 0 {
		return fmt.Errorf("the journal has no control-plane node; run the servers step first")
	}
	if err := bootstrapOnce(ctx, r, client, cps); err != nil {
		return err
	}
	return fetchKubeconfig(ctx, r, client, cps)
}

// bootstrapOnce calls Bootstrap on one control plane, exactly once over
// any number of runs: the intent is journaled before the call, and a
// control plane that already has etcd data means it happened.
func bootstrapOnce(ctx context.Context, r *Run, client *talos.Client, cps []state.Node) error {
	fact := r.Journal.FactsCopy().Bootstrap
	if fact == "done" {
		return nil
	}
	opts := r.Deps.Talos
	for _, cp := range cps {
		if members, err := client.EtcdMembers(ctx, opts.endpoint(cp.PublicIP)); err == nil && members > 0 {
			r.Say("etcd already runs on %s; not bootstrapping again", cp.Name)
			return r.Journal.SetFacts(func(f *state.Facts) { f.Bootstrap = "done" })
		}
	}
	target := cps[0]
	if name, ok := strings.CutPrefix(fact, "intent:"); ok {
		// An earlier run meant to bootstrap this node: stay with it, so two
		// nodes never both start an etcd cluster.
		for _, cp := range cps {
			if cp.Name == name {
				target = cp
			}
		}
	}
	if err := r.Journal.SetFacts(func(f *state.Facts) { f.Bootstrap = "intent:" + target.Name }); err != nil {
		return err
	}
	endpoint := opts.endpoint(target.PublicIP)
	deadline := r.Clock.Now().Add(opts.nodeTimeout())
	r.NodeEvent(target.Name, "bootstrapping", target.PublicIP, "starting etcd")
	for {
		err := client.Bootstrap(ctx, endpoint)
		if err == nil {
			break
		}
		if !talos.RetryableBootstrap(err) || ctx.Err() != nil {
			return fmt.Errorf("bootstrap %s (%s): %w", target.Name, target.PublicIP, err)
		}
		if !r.Clock.Now().Before(deadline) {
			return fmt.Errorf("bootstrap %s (%s): still refused after %s: %w", target.Name, target.PublicIP, opts.nodeTimeout(), err)
		}
		if err := r.Clock.Sleep(ctx, opts.poll()); err != nil {
			return err
		}
	}
	return r.Journal.SetFacts(func(f *state.Facts) { f.Bootstrap = "done" })
}

// fetchKubeconfig stores the admin kubeconfig (0600), asking each control
// plane in turn until one answers.
func fetchKubeconfig(ctx context.Context, r *Run, client *talos.Client, cps []state.Node) error {
	opts := r.Deps.Talos
	deadline := r.Clock.Now().Add(opts.nodeTimeout())
	for {
		var lastErr error
		for _, cp := range cps {
			data, err := client.Kubeconfig(ctx, opts.endpoint(cp.PublicIP))
			if err == nil && len(data) > 0 {
				if data, err = outsideKubeconfig(r, data, cp, cps); err != nil {
					return fmt.Errorf("kubeconfig of %s: %w", cp.Name, err)
				}
				if err := r.Cluster.WriteSecret(kubeconfig.File, data); err != nil {
					return err
				}
				r.Say("kubeconfig written to %s", r.Cluster.Path(kubeconfig.File))
				return nil
			}
			lastErr = fmt.Errorf("%s (%s): %w", cp.Name, cp.PublicIP, err)
		}
		if !r.Clock.Now().Before(deadline) {
			return fmt.Errorf("no control plane handed out a kubeconfig within %s: %w", opts.nodeTimeout(), lastErr)
		}
		if err := r.Clock.Sleep(ctx, opts.poll()); err != nil {
			return err
		}
	}
}

// outsideKubeconfig makes a node's kubeconfig work from outside the
// cluster. The endpoint's DNS name (--domain) resolves only after the dns
// step, and a VIP lives on the private network: both are replaced by the
// answering control plane's public address. When that pins the kubeconfig
// to one of several control planes, a context per control plane lets the
// user go on through another.
func outsideKubeconfig(r *Run, data []byte, cp state.Node, cps []state.Node) ([]byte, error) {
	var err error
	if vip := r.Journal.FactsCopy().VIP; vip != "" && vip == r.Journal.FactsCopy().Endpoint {
		data, err = kubeconfig.PinServer(data, cp.PublicIP)
	} else {
		data, err = kubeconfig.PinServerHost(data, cp.PublicIP)
	}
	if err != nil || len(cps) < 2 || r.Journal.FactsCopy().APILoadBalancer != "" {
		return data, err
	}
	var names, addrs []string
	for _, c := range cps {
		names, addrs = append(names, c.Name), append(addrs, c.PublicIP)
	}
	return kubeconfig.AddServerContexts(data, names, addrs)
}
