package vultr

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/clock"
)

// transport is the HTTP policy of the Vultr client: bearer auth, a request
// budget, and retries of answers that are safe to retry. It is deliberately
// small; it is the piece to swap for the shared internal/httpx policy once
// that exists, keeping newTransport's signature.
type transport struct {
	base       http.RoundTripper
	token      string
	clock      clock.Clock
	maxRetries int
	budget     *budget
}

func newTransport(token string, c clock.Clock, perSecond float64, maxRetries int) *transport {
	return &transport{
		base:       http.DefaultTransport,
		token:      token,
		clock:      c,
		maxRetries: maxRetries,
		budget:     &budget{clock: c, perSecond: perSecond, tokens: perSecond},
	}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	for attempt := 0; ; attempt++ {
		if err := t.budget.take(ctx); err != nil {
			return nil, err
		}
		r := req.Clone(ctx)
		r.Header.Set("Authorization", "Bearer "+t.token)
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		resp, err := t.base.RoundTrip(r)
		wait, retry := t.retryAfter(req.Method, resp, err, attempt)
		if !retry || attempt >= t.maxRetries {
			record(ctx, resp)
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		if err := t.clock.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryAfter is the one place that decides what is retried: 429 always (the
// API refused before doing anything), 5xx and network errors only for
// idempotent methods, so a create is never sent twice.
func (t *transport) retryAfter(method string, resp *http.Response, err error, attempt int) (time.Duration, bool) {
	idempotent := method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete || method == http.MethodPut
	backoff := min(500*time.Millisecond<<attempt, 10*time.Second)
	backoff = backoff/2 + rand.N(backoff/2+1) // jitter
	switch {
	case err != nil:
		return backoff, idempotent && err != context.Canceled && err != context.DeadlineExceeded
	case resp.StatusCode == http.StatusTooManyRequests:
		if d := parseRetryAfter(resp.Header.Get("Retry-After")); d > 0 {
			return d, true
		}
		return backoff, true
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return backoff, idempotent
	}
	return 0, false
}

func parseRetryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	return 0
}

// budget spaces requests to the API's limit (about 30 per second per key),
// allowing a burst of one second's worth.
type budget struct {
	mu        sync.Mutex
	clock     clock.Clock
	perSecond float64
	tokens    float64
	last      time.Time
}

func (b *budget) take(ctx context.Context) error {
	if b.perSecond <= 0 {
		return nil
	}
	b.mu.Lock()
	now := b.clock.Now()
	if !b.last.IsZero() {
		b.tokens = min(b.perSecond, b.tokens+now.Sub(b.last).Seconds()*b.perSecond)
	}
	b.last = now
	b.tokens--
	var wait time.Duration
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.perSecond * float64(time.Second))
	}
	b.mu.Unlock()
	if wait == 0 {
		return nil
	}
	return b.clock.Sleep(ctx, wait)
}

// answer is what the API said to a failed call. govultr folds the status
// code into an error string, so the transport keeps it on the side, in a
// slot the caller put into the request's context.
type answer struct {
	Status     int
	Message    string
	RetryAfter time.Duration
}

type answerKey struct{}

func withAnswer(ctx context.Context) (context.Context, *answer) {
	a := &answer{}
	return context.WithValue(ctx, answerKey{}, a), a
}

func record(ctx context.Context, resp *http.Response) {
	a, ok := ctx.Value(answerKey{}).(*answer)
	if !ok || resp == nil || resp.StatusCode < 400 {
		return
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	var e struct {
		Error string `json:"error"`
	}
	a.Status = resp.StatusCode
	a.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		a.Message = e.Error
	} else {
		a.Message = http.StatusText(resp.StatusCode)
	}
}
