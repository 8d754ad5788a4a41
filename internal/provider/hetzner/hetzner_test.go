package hetzner_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner"
	"github.com/cto-platform/cto/internal/provider/hetzner/fake"
	"github.com/cto-platform/cto/internal/provider/providertest"
)

// newTestProvider points a provider at a fresh fake with instant polling.
func newTestProvider(t *testing.T, opt fake.Options) (*hetzner.Provider, *fake.Fake, *httptest.Server) {
	t.Helper()
	f := fake.New(opt)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return providerFor(f, srv.URL, fake.Token), f, srv
}

func providerFor(f *fake.Fake, url, token string) *hetzner.Provider {
	return hetzner.New(hetzner.Config{
		Token: token, Endpoint: url, Clock: f.Clock(),
		PollBackoff: hcloud.ConstantBackoff(time.Millisecond), RetryBackoff: hcloud.ConstantBackoff(time.Millisecond),
		// No rescue system answers here; nothing may dial outside loopback.
		DialRescue: func(string) string { return "127.0.0.1:1" },
	})
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Fixture {
		p, f, srv := newTestProvider(t, fake.Options{})
		return providertest.Fixture{
			Provider: p,
			Plan:     "cx23",
			Region:   "fsn1",
			Settle:   f.Settle,
			BadCredentials: func() provider.Provider {
				return providerFor(f, srv.URL, "not-the-token")
			},
			OutOfStock: func() { f.SetOutOfStock("cx23", "fsn1") },
			FailNext:   f.FailNext,
		}
	})
}
