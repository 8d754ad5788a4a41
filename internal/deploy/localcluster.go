package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/cto-platform/cto/internal/kubeconfig"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/state"
)

// createLocalCluster is the kubernetes step of provider local: kind brings
// up the nodes, Kubernetes and a CNI at once, so there are no servers and
// no Talos.
func createLocalCluster(ctx context.Context, r *pipeline.Run) error {
	lc := r.Deps.LocalCluster
	if lc == nil {
		return errors.New("no container engine is wired for provider local")
	}
	s := r.Deps.Spec
	r.Say("creating local cluster cto-%s (%d node(s)); the first run pulls the node image", s.Name, max(1, s.Nodes))
	kc, err := lc.Create(ctx, s.Name, s.Nodes)
	if err != nil {
		return err
	}
	if err := r.Cluster.WriteSecret(kubeconfig.File, kc); err != nil {
		return fmt.Errorf("save the kubeconfig: %w", err)
	}
	if err := r.Journal.SetFacts(func(f *state.Facts) { f.LocalCluster = "cto-" + s.Name }); err != nil {
		return err
	}
	if err := r.Journal.SetFacts(func(f *state.Facts) { f.LocalCNI = "kindnet" }); err != nil {
		return err
	}
	r.Say("kubeconfig saved to %s", r.Cluster.Path(kubeconfig.File))
	return nil
}
