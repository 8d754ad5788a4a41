package deploy

import (
	"context"

	"github.com/cto-platform/cto/internal/pipeline"
)

// machinesStep orders the servers, puts them on the cluster's private
// network and configures Talos on them: three phases, each journaled as a
// step of its own.
//
// On a provider that paces its writes and whose private addresses cto
// chooses (Latitude.sh), a deploy is bound by the write budget, so the
// phases overlap node by node: each server joins the network right after
// its order, and takes its Talos config as soon as it is up, while the
// last orders still wait for the budget. Elsewhere they run one after the
// other.
type machinesStep struct{}

func (machinesStep) Name() string { return StepMachines }

func (machinesStep) Phases() []pipeline.Step {
	return []pipeline.Step{serversStep{}, networkStep{}, talosStep{}}
}

func (m machinesStep) Run(ctx context.Context, r *pipeline.Run) error {
	if r.DryRun || !joinsNetworkEarly(r) || r.StopsAfter(StepServers) || r.StopsAfter(StepNetwork) || !pipeline.HasWork(r, talosStep{}) {
		for _, ph := range m.Phases() {
			if err := r.RunPhase(ctx, ph); err != nil || r.StopsAfter(ph.Name()) {
				return err
			}
		}
		return nil
	}
	return pipeline.Alongside(ctx, r, talosStep{}, serversStep{}, networkStep{})
}
