package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/licensetest"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/spec"
)

// fixedClock is a clock that never moves.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                                   { return c.t }
func (c fixedClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func teamLicense(t *testing.T, expires time.Time) string {
	t.Helper()
	return licensetest.File(t, licensetest.Token(t, license.License{ID: "L-7", Customer: "Acme", Tier: license.Team, IssuedAt: expires.AddDate(-1, 0, 0), ExpiresAt: expires}))
}

// newTestRun is newRun with a spec, a fixed clock and a recorder.
func newTestRun(t *testing.T, s spec.ClusterSpec, now time.Time) (*pipeline.Run, *events.Recorder) {
	t.Helper()
	r := newRun(t, t.TempDir())
	rec := &events.Recorder{}
	r.Events, r.Clock, r.Deps.Spec = rec, fixedClock{now}, s
	return r, rec
}

func TestCheckLicenseWarnsAtTheRunsClock(t *testing.T) {
	expires := time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)
	s := spec.Defaults()
	s.Provider, s.Nodes, s.License = "latitude", 3, teamLicense(t, expires)

	r, rec := newTestRun(t, s, expires.AddDate(0, 0, -5))
	if err := checkLicense(r); err != nil {
		t.Fatal(err)
	}
	ev := rec.Snapshot()
	if len(ev) != 1 || ev[0].Type != events.Warning || !strings.Contains(ev[0].Message, "expires on 2027-12-31 (in 5 days)") {
		t.Fatalf("events %+v", ev)
	}

	r, rec = newTestRun(t, s, expires.AddDate(0, 0, -60))
	if err := checkLicense(r); err != nil || len(rec.Snapshot()) != 0 {
		t.Fatalf("far from expiry: %v %+v", err, rec.Snapshot())
	}
}

func TestValidateStepRefusesBeforeAnythingElse(t *testing.T) {
	expires := time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)
	s := spec.Defaults()
	s.Provider, s.Nodes, s.License = "latitude", 4, teamLicense(t, expires)
	r, _ := newTestRun(t, s, expires.AddDate(0, -6, 0))
	err := (&pipeline.Engine{Steps: Steps()}).Execute(context.Background(), r, pipeline.Options{})
	var se *pipeline.StepError
	if !errors.As(err, &se) || se.Step != StepValidate || !license.IsError(err, license.Refused) ||
		!strings.Contains(err.Error(), "4 nodes exceed the Team license's limit of 3; a Business license covers up to 10") {
		t.Fatalf("got %v", err)
	}

	// Past the grace, the same deploy within the limit is refused with the date.
	s.Nodes = 3
	r, _ = newTestRun(t, s, expires.AddDate(0, 0, 8))
	err = (&pipeline.Engine{Steps: Steps()}).Execute(context.Background(), r, pipeline.Options{})
	if !license.IsError(err, license.Refused) || !strings.Contains(err.Error(), "expired on 2027-12-31") {
		t.Fatalf("got %v", err)
	}
}
