package latitude_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// faultyProvider is a provider against the fake with a short attempt
// timeout and backoff on a fast clock, so injected faults play out in milliseconds.
func faultyProvider(t *testing.T) (*fake.Fake, *latitude.Provider) {
	t.Helper()
	f := fake.New(fake.Options{Seed: 3})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := latitude.New(latitude.Config{Token: f.Token(), APIURL: srv.URL, ReadsPerMinute: -1, WritesPerMinute: -1,
		Timeout: 200 * time.Millisecond, MaxAttempts: 4, Clock: clock.NewScaled(1000)})
	if err != nil {
		t.Fatal(err)
	}
	return f, p
}

// Each fault the API shows, alone, against the provider: what a read does.
func TestProviderUnderFaults(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		faults func(*fake.Faults)
		// wantErr is nil when the read must succeed after retries.
		wantErr error
		// wantMsg is part of the error's message.
		wantMsg string
	}{
		{"connection resets are retried", func(x *fake.Faults) { x.ResetNext = 2 }, nil, ""},
		{"a 5xx burst is retried", func(x *fake.Faults) { x.ServerErrorBurst = 3 }, nil, ""},
		{"answers slower than the timeout are retried", func(x *fake.Faults) { x.SlowNext = 2; x.SlowLatency = time.Second }, nil, ""},
		{"a reset storm gives up, bounded", func(x *fake.Faults) { x.ResetNext = 100 }, errAny, "no answer"},
		{"a 5xx storm gives up with the last answer", func(x *fake.Faults) { x.ServerErrorBurst = 100 }, errAny, "503"},
		{"a malformed answer to a read is asked again", func(x *fake.Faults) { x.MalformedNext = 2 }, nil, ""},
		{"malformed answers that persist are a clear error", func(x *fake.Faults) { x.MalformedNext = 100 }, errAny, "decode answer"},
		{"a revoked token is unauthorized", func(x *fake.Faults) { x.Revoked = true }, provider.ErrUnauthorized, "401"},
		{"pages clamped past the end end the list", func(x *fake.Faults) { x.ClampPages = true }, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, p := faultyProvider(t)
			f.SetFaults(c.faults)
			before := f.State().Requests["GET /regions"]
			regions, err := p.ListRegions(ctx)
			sent := f.State().Requests["GET /regions"] - before
			if sent > 4 {
				t.Errorf("%d requests for one read; the attempt bound is 4", sent)
			}
			if c.wantErr == nil {
				if err != nil || len(regions) != len(fake.Sites) {
					t.Fatalf("got %d regions, %v; want all %d", len(regions), err, len(fake.Sites))
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if c.wantErr != errAny && !errors.Is(err, c.wantErr) {
				t.Errorf("error %v is not %v", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantMsg) || strings.Contains(err.Error(), f.Token()) {
				t.Errorf("error %q: want it to say %q and never hold the token", err, c.wantMsg)
			}
		})
	}
}

var errAny = errors.New("any error")

// A status the API never documented reads as "not ready yet", never as
// ready or failed.
func TestUnknownStatusIsPending(t *testing.T) {
	f, p := faultyProvider(t)
	f.SetFaults(func(x *fake.Faults) { x.UnknownStatus = "hardware_check" })
	s, err := provider.Create(context.Background(), p, provider.ServerSpec{Cluster: "u", Hostname: "u-cp1", Plan: "c2-small-x86", Region: "DAL",
		Boot: provider.Boot{Method: provider.BootIPXE, URL: "http://127.0.0.1/boot.ipxe"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.GetServer(context.Background(), s.ID)
	if err != nil || got.Status != provider.StatusPending || got.RawStatus != "hardware_check" {
		t.Errorf("server = %+v, %v; want pending with raw status hardware_check", got, err)
	}
}
