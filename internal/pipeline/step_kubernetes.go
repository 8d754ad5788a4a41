package pipeline

import (
	"context"
	"fmt"
)

type kubernetesStep struct{}

func (kubernetesStep) Name() string { return StepKubernetes }

func (kubernetesStep) Skip(r *Run) (string, bool) {
	if r.Deps != nil && r.Deps.Spec.Provider == "existing" {
		return "the cluster exists already", true
	}
	return "", false
}

func (kubernetesStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepKubernetes)
}
