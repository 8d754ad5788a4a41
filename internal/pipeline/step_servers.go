package pipeline

import (
	"context"
	"fmt"
)

type serversStep struct{}

func (serversStep) Name() string { return StepServers }

func (serversStep) Skip(r *Run) (string, bool) { return skipWithoutMachines(r) }

func (serversStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepServers)
}
