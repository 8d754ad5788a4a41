package pipeline

import (
	"context"
	"fmt"
)

type dnsStep struct{}

func (dnsStep) Name() string { return StepDNS }

func (dnsStep) Skip(r *Run) (string, bool) {
	if r.Deps != nil && r.Deps.Spec.DNS.Domain == "" {
		return "no --domain", true
	}
	return "", false
}

func (dnsStep) Run(ctx context.Context, r *Run) error {
	return fmt.Errorf("the %s step is not available in this build yet", StepDNS)
}
