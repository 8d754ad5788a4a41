package pipeline

import (
	"context"
	"fmt"
)

type kubernetesStep struct{}

func (kubernetesStep) Name() string { return StepKubernetes }

func (kubernetesStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepKubernetes)
}
