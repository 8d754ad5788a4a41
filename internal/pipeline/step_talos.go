package pipeline

import (
	"context"
	"fmt"
)

type talosStep struct{}

func (talosStep) Name() string { return StepTalos }

func (talosStep) Skip(r *Run) (string, bool) { return skipWithoutMachines(r) }

func (talosStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepTalos)
}
