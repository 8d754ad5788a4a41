package pipeline

import (
	"context"
	"fmt"
)

type dnsStep struct{}

func (dnsStep) Name() string { return StepDNS }

func (dnsStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepDNS)
}
