package pipeline

import (
	"context"
	"fmt"
)

type validateStep struct{}

func (validateStep) Name() string { return StepValidate }

// Skip: an existing cluster's kubeconfig is checked by the platform step
// (platform.CheckReachable) until validation covers it.
func (validateStep) Skip(r *Run) (string, bool) {
	if r.Deps != nil && r.Deps.Spec.Provider == "existing" {
		return "the platform step checks the kubeconfig", true
	}
	return "", false
}

func (validateStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepValidate)
}
