package deploy

import (
	"testing"

	"github.com/cto-platform/cto/internal/state/statetest"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/pipeline"
)

// newRun opens a fresh cluster folder in dir and returns a run on it that
// records its events.
func newRun(t *testing.T, dir string) *pipeline.Run {
	t.Helper()
	c, j := statetest.New(t, dir, "demo")
	return &pipeline.Run{Cluster: c, Journal: j, Events: &events.Recorder{}, Clock: clock.Real{}, Deps: &pipeline.Deps{}}
}
