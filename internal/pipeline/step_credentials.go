package pipeline

import (
	"context"
	"fmt"
)

type credentialsStep struct{}

func (credentialsStep) Name() string { return StepCredentials }

func (credentialsStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepCredentials)
}
