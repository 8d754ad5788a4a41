package robot

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cto-platform/cto/internal/clock"
)

// ErrLoginStopped is every request after Robot rejected the credentials
// once: Robot blocks the caller's IP for ten minutes after three failed
// logins, so cto never makes a second attempt with credentials it knows are
// wrong.
var ErrLoginStopped = errors.New("not sent: Robot already rejected these credentials once (3 failed logins block the IP for 10 minutes)")

// policy is the Robot client's HTTP policy: stop for good at the first 401,
// and retry 429 (after its Retry-After, when that is short) and, for reads
// only, 502/503/504 and network errors with a doubling backoff. It is kept
// small on purpose: at integration it is swapped for the shared HTTP policy
// of internal/httpx, keeping the 401 stop.
type policy struct {
	next    http.RoundTripper
	clock   clock.Clock
	retries int
	// maxWait is the longest Retry-After worth waiting for in-line.
	maxWait time.Duration

	rejected atomic.Bool
}

func (p *policy) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.rejected.Load() {
		return nil, ErrLoginStopped
	}
	next := p.next
	if next == nil {
		next = http.DefaultTransport
	}
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		resp, err := next.RoundTrip(req)
		var wait time.Duration
		switch {
		case err != nil:
			if !idempotent || attempt >= p.retries || req.Context().Err() != nil {
				return nil, err
			}
			wait = backoff
		case resp.StatusCode == http.StatusUnauthorized:
			p.rejected.Store(true)
			return resp, nil
		case resp.StatusCode == http.StatusTooManyRequests:
			// Not processed, so safe to repeat whatever the method.
			wait = backoff
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil {
				wait = time.Duration(s) * time.Second
			}
			if attempt >= p.retries || wait > p.maxWait {
				return resp, nil
			}
		case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
			if !idempotent || attempt >= p.retries {
				return resp, nil
			}
			wait = backoff
		default:
			return resp, nil
		}
		if resp != nil {
			resp.Body.Close()
		}
		if err := p.clock.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		backoff *= 2
	}
}
