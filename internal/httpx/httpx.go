// Package httpx is the one HTTP policy every provider client uses: a
// timeout per attempt, retries with exponential backoff and full jitter for
// 429, 5xx and connection errors only, Retry-After honoured, a client-side
// rate budget of reads and writes per minute, bounded attempts, replayable
// bodies, and secrets redacted from every log line and error.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cto-platform/cto/internal/clock"
)

// Options configure a Client. Zero values take the defaults noted.
type Options struct {
	// HTTPClient sends the requests (default: a client without a timeout;
	// Timeout bounds each attempt instead).
	HTTPClient *http.Client
	// Timeout bounds one attempt (default 30s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one request, the first included
	// (default 6).
	MaxAttempts int
	// BaseBackoff is the first retry's upper bound, doubled per retry up to
	// MaxBackoff (defaults 1s and 60s).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// ReadsPerMinute and WritesPerMinute are the client-side budget (GET and
	// HEAD are reads; everything else writes). 0 means unlimited.
	ReadsPerMinute  int
	WritesPerMinute int
	// OneBudget makes writes draw from the reads budget, for APIs whose
	// limit counts every request alike (ReadsPerMinute is then the limit).
	OneBudget bool
	// Burst is how many requests may go at once before the budget spaces
	// them (default: a whole minute's worth).
	Burst int
	// MaxRetryAfter is the longest Retry-After worth waiting for in-line
	// (default: any); a longer one returns the 429 to the caller, who can
	// tell the user when to come back.
	MaxRetryAfter time.Duration
	// RetryAfterBody reads the wait an answer's body asks for, for APIs
	// that say it there (consulted when the Retry-After header is absent).
	RetryAfterBody func(body []byte) (time.Duration, bool)
	// Clock times backoff and the budget (default the wall clock).
	Clock clock.Clock
	// Secrets are values that must never appear in logs or errors, such as
	// the API token. The Authorization header is always redacted.
	Secrets []string
	// Logger receives one debug line per attempt (default: discard).
	Logger *slog.Logger
	// Jitter returns a number in [0,1) (default math/rand).
	Jitter func() float64
}

// Client sends requests under the policy.
type Client struct {
	opts   Options
	reads  *bucket
	writes *bucket
	stats  counters
}

type counters struct {
	reads, writes, rateLimited, retries, serverErrors atomic.Int64
}

// Stats counts what a Client sent, for benchmarks and reports.
type Stats struct {
	Reads        int64 `json:"reads"`
	Writes       int64 `json:"writes"`
	RateLimited  int64 `json:"rate_limited"`
	ServerErrors int64 `json:"server_errors"`
	Retries      int64 `json:"retries"`
}

// New returns a Client with opts over the defaults.
func New(opts Options) *Client {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 6
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	c := &Client{
		opts:   opts,
		reads:  newBucket(opts.ReadsPerMinute, opts.Burst, opts.Clock),
		writes: newBucket(opts.WritesPerMinute, opts.Burst, opts.Clock),
	}
	if opts.OneBudget {
		c.writes = c.reads
	}
	return c
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	return Stats{
		Reads: c.stats.reads.Load(), Writes: c.stats.writes.Load(), RateLimited: c.stats.rateLimited.Load(),
		ServerErrors: c.stats.serverErrors.Load(), Retries: c.stats.retries.Load(),
	}
}

// Request is one API call. Body is kept as bytes so every attempt sends it
// again from the start.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// Unsafe marks a request that must not be repeated blindly (an order
	// that may have been carried out although its answer was lost): it is
	// retried only on 429, which refuses it before any work. The caller
	// checks what happened before sending it again.
	Unsafe bool
}

// Response is the final answer to a Request, its body read in full.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Attempts is how many times the request was sent.
	Attempts int
}

// Do sends req under the policy. A non-2xx answer that is not retried (or
// whose retries ran out) is returned as a Response with a nil error: the
// caller's API knows what its error bodies mean. Errors are transport
// failures or ctx ending, with secrets redacted.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	write := req.Method != http.MethodGet && req.Method != http.MethodHead
	var last *Response
	var lastErr error
	for attempt := 1; attempt <= c.opts.MaxAttempts; attempt++ {
		b := c.reads
		if write {
			b = c.writes
		}
		sent, err := b.take(ctx)
		if err != nil {
			return nil, c.wrap(req, err)
		}
		if write {
			c.stats.writes.Add(1)
		} else {
			c.stats.reads.Add(1)
		}
		if attempt > 1 {
			c.stats.retries.Add(1)
		}
		resp, err := c.once(ctx, req)
		b.answered(sent)
		if err != nil {
			if ctx.Err() != nil {
				return nil, c.wrap(req, ctx.Err())
			}
			lastErr, last = err, nil
			c.log(req, attempt, 0, err)
			if req.Unsafe {
				break
			}
		} else {
			resp.Attempts = attempt
			c.log(req, attempt, resp.StatusCode, nil)
			if resp.StatusCode == http.StatusTooManyRequests {
				c.stats.rateLimited.Add(1)
			} else if resp.StatusCode >= 500 {
				c.stats.serverErrors.Add(1)
			}
			if !retryable(resp.StatusCode) || (req.Unsafe && resp.StatusCode != http.StatusTooManyRequests) {
				return resp, nil
			}
			last, lastErr = resp, nil
		}
		if attempt == c.opts.MaxAttempts {
			break
		}
		wait := c.backoff(attempt)
		if last != nil {
			ra, ok := RetryAfter(last.Header, c.opts.Clock.Now())
			if !ok && c.opts.RetryAfterBody != nil {
				ra, ok = c.opts.RetryAfterBody(last.Body)
			}
			if ok {
				if c.opts.MaxRetryAfter > 0 && ra > c.opts.MaxRetryAfter {
					return last, nil
				}
				wait = ra
			}
		}
		if err := c.opts.Clock.Sleep(ctx, wait); err != nil {
			return nil, c.wrap(req, err)
		}
	}
	if last != nil {
		return last, nil
	}
	return nil, c.wrap(req, fmt.Errorf("no answer: %w", lastErr))
}

func (c *Client) once(ctx context.Context, req Request) (*Response, error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(actx, req.Method, req.URL, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	resp, err := c.opts.HTTPClient.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// retryable is the one place that decides which answers are tried again:
// rate limits and server errors, never other client errors.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// backoff is exponential with full jitter: a random wait up to
// base*2^(attempt-1), capped.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.opts.BaseBackoff << (attempt - 1)
	if ceiling <= 0 || ceiling > c.opts.MaxBackoff {
		ceiling = c.opts.MaxBackoff
	}
	return time.Duration(c.opts.Jitter() * float64(ceiling))
}

// RetryAfter reads a Retry-After header in seconds or as an HTTP date.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func (c *Client) log(req Request, attempt, status int, err error) {
	if err != nil {
		c.opts.Logger.Debug("http", "method", req.Method, "url", c.Redact(req.URL), "attempt", attempt, "error", c.Redact(err.Error()))
		return
	}
	c.opts.Logger.Debug("http", "method", req.Method, "url", c.Redact(req.URL), "attempt", attempt, "status", status)
}

func (c *Client) wrap(req Request, err error) error {
	return &Error{Method: req.Method, URL: c.Redact(req.URL), msg: c.Redact(err.Error()), err: err}
}

// Redact replaces every configured secret in s.
func (c *Client) Redact(s string) string {
	for _, sec := range c.opts.Secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// RedactHeader returns a copy of h with credentials replaced, for dumps.
func (c *Client) RedactHeader(h http.Header) http.Header {
	out := h.Clone()
	for k := range out {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Proxy-Authorization", "Cookie", "X-Auth-Token", "X-Api-Key":
			out[k] = []string{"[REDACTED]"}
		default:
			for i, v := range out[k] {
				out[k][i] = c.Redact(v)
			}
		}
	}
	return out
}

// Error is a request that got no answer. Its message is redacted; Unwrap
// still reaches context errors for errors.Is.
type Error struct {
	Method, URL string
	msg         string
	err         error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.msg) }

func (e *Error) Unwrap() error {
	switch {
	case errors.Is(e.err, context.Canceled):
		return context.Canceled
	case errors.Is(e.err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return nil
}

// Priority orders requests that wait for the same budget: a waiting
// request of higher priority gets the next token first; equal priorities go
// first come, first served.
type Priority int

const (
	// PriorityLow is bookkeeping that may trail the work it describes
	// (labels, tags).
	PriorityLow Priority = -1
	// PriorityNormal is every request not marked otherwise.
	PriorityNormal Priority = 0
	// PriorityHigh starts something slow, such as a server order whose
	// deploy takes minutes: the sooner it is sent, the sooner it ends.
	PriorityHigh Priority = 1
	// PriorityFirst starts what the rest waits on, such as a control
	// plane's order: the cluster's API comes up with it.
	PriorityFirst Priority = 2
)

type priorityKey struct{}

// WithPriority marks the requests sent with ctx.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

func priorityOf(ctx context.Context) Priority {
	p, _ := ctx.Value(priorityKey{}).(Priority)
	return p
}

// bucket holds requests to at most limit in any window of a minute, on the
// injected clock: the strictest reading of "N per minute", so an API that
// counts with a token bucket, a fixed window or a sliding one never answers
// 429. A request holds its place in the window from when it is sent until
// its answer is back, so however long it travelled, the request that
// reuses the place reaches the API more than a minute after it did. Requests that
// find it full queue by priority, then arrival, and one dispatcher hands
// out sends as the window frees: waiting costs no wake-ups however many
// requests wait.
type bucket struct {
	mu     sync.Mutex
	clock  clock.Clock
	limit  int // 0 = unlimited
	window time.Duration
	sent   []*slot // the last limit requests

	// A token bucket spaces bursts when they must be smaller than the
	// minute's limit (rate 0: none).
	rate, cap, tokens float64 // tokens per nanosecond, at most cap
	last              time.Time

	queue       []*waiter // by priority (high first), then arrival
	dispatching bool
}

type waiter struct {
	prio    Priority
	ready   chan struct{}
	granted *slot
}

// slot is one request's place in the window: when it was answered, or sent
// while it travels.
type slot struct{ at time.Time }

// windowMargin widens the minute for clocks that differ a little.
const windowMargin = time.Minute / 200

// newBucket allows perMinute requests in any minute; a burst below that
// also spaces them as a token bucket of that size does.
func newBucket(perMinute, burst int, c clock.Clock) *bucket {
	b := &bucket{clock: c, limit: max(perMinute, 0), window: time.Minute + windowMargin}
	if perMinute > 0 && burst > 0 && burst < perMinute {
		b.rate = float64(perMinute) / float64(time.Minute)
		b.cap = float64(burst)
		b.tokens = b.cap
		b.last = c.Now()
	}
	return b
}

// oldestLocked is the index of the window's earliest place.
func (b *bucket) oldestLocked() int {
	oldest := 0
	for i, sl := range b.sent {
		if sl.at.Before(b.sent[oldest].at) {
			oldest = i
		}
	}
	return oldest
}

// freeAtLocked is when the next request may go: now when the window has
// room (and the burst a token).
func (b *bucket) freeAtLocked(now time.Time) time.Time {
	at := now
	if len(b.sent) >= b.limit {
		at = b.sent[b.oldestLocked()].at.Add(b.window)
	}
	if b.rate > 0 {
		if el := now.Sub(b.last); el > 0 {
			b.tokens = min(b.cap, b.tokens+float64(el)*b.rate)
			b.last = now
		}
		if b.tokens < 1 {
			// Round up: a wait truncated to zero would spin.
			at = later(at, now.Add(time.Duration(math.Ceil((1-b.tokens)/b.rate))))
		}
	}
	return at
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (b *bucket) sendLocked(now time.Time) *slot {
	if b.rate > 0 {
		b.tokens--
	}
	sl := &slot{at: now}
	if len(b.sent) == b.limit {
		b.sent[b.oldestLocked()] = sl
	} else {
		b.sent = append(b.sent, sl)
	}
	return sl
}

// answered moves a request's place in the window to when its answer came.
func (b *bucket) answered(sl *slot) {
	if sl == nil {
		return
	}
	b.mu.Lock()
	sl.at = b.clock.Now()
	b.mu.Unlock()
}

// take waits for a place in the window, honouring ctx and its priority,
// and returns it (nil when there is no limit).
func (b *bucket) take(ctx context.Context) (*slot, error) {
	if b.limit <= 0 {
		return nil, ctx.Err()
	}
	b.mu.Lock()
	if now := b.clock.Now(); len(b.queue) == 0 && !b.freeAtLocked(now).After(now) {
		sl := b.sendLocked(now)
		b.mu.Unlock()
		return sl, nil
	}
	w := &waiter{prio: priorityOf(ctx), ready: make(chan struct{})}
	i := len(b.queue)
	for i > 0 && b.queue[i-1].prio < w.prio {
		i--
	}
	b.queue = slices.Insert(b.queue, i, w)
	if !b.dispatching {
		b.dispatching = true
		go b.dispatch()
	}
	b.mu.Unlock()
	select {
	case <-w.ready:
		return w.granted, nil
	case <-ctx.Done():
		b.mu.Lock()
		if w.granted == nil {
			b.queue = slices.DeleteFunc(b.queue, func(x *waiter) bool { return x == w })
		} // else the place stays taken: nothing was sent, but it is cheap
		b.mu.Unlock()
		return nil, ctx.Err()
	}
}

// dispatch hands tokens to the queue in order until it is empty.
func (b *bucket) dispatch() {
	for {
		b.mu.Lock()
		now := b.clock.Now()
		for len(b.queue) > 0 && !b.freeAtLocked(now).After(now) {
			w := b.queue[0]
			b.queue = b.queue[1:]
			w.granted = b.sendLocked(now)
			close(w.ready)
		}
		if len(b.queue) == 0 {
			b.dispatching = false
			b.mu.Unlock()
			return
		}
		wait := b.freeAtLocked(now).Sub(now)
		b.mu.Unlock()
		b.clock.Sleep(context.Background(), max(wait, time.Millisecond))
	}
}
