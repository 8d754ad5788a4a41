package deploy

import (
	"time"

	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/spec"
)

// checkLicense verifies the deploy's license (spec.License: a path or the
// token) and applies its rules at the run's clock: warnings are emitted,
// a refusal is returned as a *license.Error (bad input).
func checkLicense(r *pipeline.Run) error {
	warnings, err := CheckLicense(r.Deps.Spec, r.Clock.Now())
	for _, w := range warnings {
		r.Warn("%s", w)
	}
	return err
}

// CheckLicense loads s's license and checks s against it at now. Commands
// call it before building anything that needs credentials, so a refused
// deploy fails before any provider is involved.
func CheckLicense(s spec.ClusterSpec, now time.Time) (warnings []string, err error) {
	v, err := license.Trusted()
	if err != nil {
		return nil, err
	}
	lic, err := license.Load(s.License, v)
	if err != nil {
		return nil, err
	}
	return license.Check(lic, license.Request{Provider: s.Provider, Nodes: s.Nodes, GPU: s.GPU}, now)
}
