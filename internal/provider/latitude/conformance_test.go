package latitude_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/provider/providertest"
)

func newProvider(t *testing.T, url, token, project string) *latitude.Provider {
	t.Helper()
	p, err := latitude.New(latitude.Config{Token: token, APIURL: url, Project: project, ReadsPerMinute: -1, WritesPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Fixture {
		f := fake.New(fake.Options{})
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		return providertest.Fixture{
			Provider:       newProvider(t, srv.URL, f.Token(), ""),
			Plan:           "c2-small-x86",
			Region:         "DAL",
			Settle:         func() { f.Advance(time.Hour) },
			BadCredentials: func() provider.Provider { return newProvider(t, srv.URL, "wrong-token", "") },
			OutOfStock:     func() { f.SetStock("c2-small-x86", "DAL", 0) },
			FailNext:       func() { f.SetFaults(func(x *fake.Faults) { x.FailNext = 1 }) },
		}
	})
}
