// Package deploytest holds what tests and benchmarks of a deploy share.
package deploytest

import (
	"net/http/httptest"
	"testing"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/licensetest"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider/latitude"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state/statetest"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// Latitude shapes a LatitudeRun.
type Latitude struct {
	// Nodes is how many nodes the spec asks for.
	Nodes int
	// Speed is how many times faster than real time the run's clock goes.
	Speed float64
	// Unpaced lifts the client's read and write budget; without it the
	// client keeps to Latitude's published one.
	Unpaced bool
}

// LatitudeRun is a run of a deploy of cluster "t" on c2-small-x86 servers
// in DAL against the Latitude double, with a fake Talos image factory and
// an enterprise license. Both servers stop when the test ends.
func LatitudeRun(tb testing.TB, o Latitude) (*pipeline.Run, *fake.Fake, *latitude.Provider) {
	tb.Helper()
	clk := clock.NewScaled(o.Speed)
	f := fake.New(fake.Options{Clock: clk})
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	cfg := latitude.Config{Token: f.Token(), APIURL: srv.URL, Clock: clk}
	if o.Unpaced {
		cfg.ReadsPerMinute, cfg.WritesPerMinute = -1, -1
	}
	p, err := latitude.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s := spec.Defaults()
	s.Name, s.Provider, s.Plan, s.Region, s.Nodes = "t", "latitude", "c2-small-x86", "DAL", o.Nodes
	s.License = licensetest.Valid(tb, "L-test", license.Enterprise)
	factory := httptest.NewServer(talosfake.NewFactory())
	tb.Cleanup(factory.Close)
	s.Talos.ImageFactoryURL = factory.URL
	s.Complete()
	c, j := statetest.New(tb, tb.TempDir(), s.Name)
	return &pipeline.Run{Cluster: c, Journal: j, Clock: clk, Deps: &pipeline.Deps{Spec: s, Provider: p, Yes: true}}, f, p
}
