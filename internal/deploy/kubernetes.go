package deploy

import (
	"context"
	"fmt"

	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// kubernetesStep bootstraps etcd on exactly one control plane and fetches
// the admin kubeconfig.
type kubernetesStep struct{}

func (kubernetesStep) Name() string { return StepKubernetes }

func (kubernetesStep) Skip(r *pipeline.Run) (string, bool) {
	if r.Deps.Spec.Source() == spec.Existing {
		return "Kubernetes comes with a " + r.Deps.Spec.Provider + " cluster", true
	}
	return "", false
}

func (kubernetesStep) Run(ctx context.Context, r *pipeline.Run) error {
	if r.Deps.Spec.Source() == spec.Local {
		return createLocalCluster(ctx, r)
	}
	client, err := TalosClient(r)
	if err != nil {
		return err
	}
	cps := ControlPlanes(r.Journal.NodesCopy())
	if len(cps) == 0 {
		return fmt.Errorf("the journal has no control-plane node; run the servers step first")
	}
	if err := bootstrapOnce(ctx, r, client, cps); err != nil {
		return err
	}
	return fetchKubeconfig(ctx, r, client, cps)
}

// bootstrapOnce starts etcd on one control plane, exactly once over any
// number of runs; the journal's Facts.Bootstrap keeps the intent.
func bootstrapOnce(ctx context.Context, r *pipeline.Run, client *talos.Client, cps []state.Node) error {
	members := make([]talos.Member, len(cps))
	for i, cp := range cps {
		members[i] = talos.Member{Name: cp.Name, Address: cp.PublicIP, Endpoint: r.Deps.Talos.Endpoint(cp.PublicIP)}
	}
	rec := talos.BootstrapRecord{
		Load: func() string { return r.Journal.FactsCopy().Bootstrap },
		Save: func(v string) error { return r.Journal.SetFacts(func(f *state.Facts) { f.Bootstrap = v }) },
	}
	return client.BootstrapOnce(ctx, talosPace(r), members, rec, func(m talos.Member, status, msg string) {
		if status == "bootstrapping" {
			r.NodeEvent(m.Name, status, m.Address, msg)
			return
		}
		r.Say("%s", msg)
	})
}

// fetchKubeconfig stores the admin kubeconfig (0600), asking each control
// plane in turn until one answers.
func fetchKubeconfig(ctx context.Context, r *pipeline.Run, client *talos.Client, cps []state.Node) error {
	opts := r.Deps.Talos
	deadline := r.Clock.Now().Add(opts.NodeDeadline())
	for {
		var lastErr error
		for _, cp := range cps {
			data, err := client.Kubeconfig(ctx, opts.Endpoint(cp.PublicIP))
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
			return fmt.Errorf("no control plane handed out a kubeconfig within %s: %w", opts.NodeDeadline(), lastErr)
		}
		if err := r.Clock.Sleep(ctx, opts.PollInterval()); err != nil {
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
func outsideKubeconfig(r *pipeline.Run, data []byte, cp state.Node, cps []state.Node) ([]byte, error) {
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
