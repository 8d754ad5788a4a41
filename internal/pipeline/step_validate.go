package pipeline

import (
	"context"
	"fmt"
)

type validateStep struct{}

func (validateStep) Name() string { return StepValidate }

func (validateStep) Run(ctx context.Context, r *Run) error {
	if err := checkLicense(r); err != nil {
		return err
	}
	if err := checkDNS(ctx, r); err != nil {
		return err
	}
	return fmt.Errorf("the %s step is not available in this build yet", StepValidate)
}
