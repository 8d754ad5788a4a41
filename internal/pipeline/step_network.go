package pipeline

import (
	"context"
	"fmt"
)

type networkStep struct{}

func (networkStep) Name() string { return StepNetwork }

func (networkStep) Skip(r *Run) (string, bool) { return skipWithoutMachines(r) }

func (networkStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepNetwork)
}
