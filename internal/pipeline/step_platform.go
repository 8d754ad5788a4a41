package pipeline

import (
	"context"
	"fmt"
)

type platformStep struct{}

func (platformStep) Name() string { return StepPlatform }

func (platformStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepPlatform)
}
