package robot

import (
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/httpx"
)

// ErrLoginStopped is every request after Robot rejected the credentials
// once: Robot blocks the caller's IP for ten minutes after three failed
// logins, so cto never makes a second attempt with credentials it knows are
// wrong.
var ErrLoginStopped = errors.New("not sent: Robot already rejected these credentials once (3 failed logins block the IP for 10 minutes)")

// policy is the Robot client's HTTP policy: the shared policy of
// internal/httpx (retries of 429 and, for reads, 5xx and network errors;
// Retry-After up to maxWait), behind a stop for good at the first 401.
type policy struct {
	next     http.RoundTripper
	rejected atomic.Bool
}

func newPolicy(next http.RoundTripper, clk clock.Clock, retries int, maxWait time.Duration) *policy {
	hc := &http.Client{Transport: next}
	if next == nil {
		hc.Transport = http.DefaultTransport
	}
	h := httpx.New(httpx.Options{
		HTTPClient:    hc,
		Clock:         clk,
		MaxAttempts:   retries + 1,
		BaseBackoff:   500 * time.Millisecond,
		MaxBackoff:    8 * time.Second,
		MaxRetryAfter: maxWait,
	})
	return &policy{next: h.Transport()}
}

func (p *policy) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.rejected.Load() {
		return nil, ErrLoginStopped
	}
	resp, err := p.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		p.rejected.Store(true)
	}
	return resp, err
}
