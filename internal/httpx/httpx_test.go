package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stepClock advances only when slept on, so waits cost no wall time and
// are recorded.
type stepClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newStepClock() *stepClock { return &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *stepClock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t time.Duration
	for _, s := range c.sleeps {
		t += s
	}
	return t
}

func TestRetriesServerErrorsAndRateLimitsHonouringRetryAfter(t *testing.T) {
	var n atomic.Int32
	var bodies []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer srv.Close()
	clk := newStepClock()
	c := New(Options{Clock: clk, Jitter: func() float64 { return 0.5 }})
	resp, err := c.Do(context.Background(), Request{Method: "POST", URL: srv.URL, Body: []byte(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || resp.Attempts != 3 {
		t.Fatalf("status %d after %d attempts, want 201 after 3", resp.StatusCode, resp.Attempts)
	}
	for _, b := range bodies {
		if b != `{"a":1}` {
			t.Errorf("a retry sent body %q, want the full body again", b)
		}
	}
	// First wait is jittered backoff (0.5 * 1s), the second the Retry-After.
	if len(clk.sleeps) != 2 || clk.sleeps[0] != 500*time.Millisecond || clk.sleeps[1] != 7*time.Second {
		t.Errorf("sleeps = %v, want [500ms 7s]", clk.sleeps)
	}
	st := c.Stats()
	if st.Writes != 3 || st.RateLimited != 1 || st.ServerErrors != 1 || st.Retries != 2 {
		t.Errorf("stats = %+v", st)
	}
}

// answering serves every request with status and counts the requests.
func answering(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	n := new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

func TestNeverRetriesOtherClientErrors(t *testing.T) {
	for _, code := range []int{400, 401, 404, 409, 422, 423} {
		srv, n := answering(t, code)
		c := New(Options{Clock: newStepClock()})
		resp, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL})
		if err != nil || resp.StatusCode != code || n.Load() != 1 {
			t.Errorf("%d: resp %+v err %v after %d requests, want one request", code, resp, err, n.Load())
		}
	}
}

func TestBoundedAttemptsReturnLastAnswer(t *testing.T) {
	srv, n := answering(t, http.StatusBadGateway)
	clk := newStepClock()
	c := New(Options{Clock: clk, MaxAttempts: 4, BaseBackoff: time.Second, MaxBackoff: 3 * time.Second, Jitter: func() float64 { return 0.999999 }})
	resp, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL})
	if err != nil || resp.StatusCode != 502 || n.Load() != 4 {
		t.Fatalf("resp %+v err %v requests %d, want 502 after 4", resp, err, n.Load())
	}
	for _, s := range clk.sleeps {
		if s > 3*time.Second {
			t.Errorf("backoff %s exceeds the cap", s)
		}
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}
	d, ok := RetryAfter(h, now)
	if !ok || d != 90*time.Second {
		t.Fatalf("RetryAfter(date) = %s %v, want 90s", d, ok)
	}
	if _, ok := RetryAfter(http.Header{"Retry-After": {"soon"}}, now); ok {
		t.Fatal("RetryAfter accepted garbage")
	}
}

func TestBudgetWaitsOnTheClock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	clk := newStepClock()
	c := New(Options{Clock: clk, WritesPerMinute: 20, ReadsPerMinute: 60})
	for i := 0; i < 40; i++ {
		if _, err := c.Do(context.Background(), Request{Method: "POST", URL: srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	// 20 burst, then 20 more at one per 3s.
	if got := clk.total(); got < 57*time.Second || got > 61*time.Second {
		t.Errorf("40 writes at 20/min waited %s, want about 60s", got)
	}
	before := clk.total()
	for i := 0; i < 60; i++ {
		c.Do(context.Background(), Request{Method: "GET", URL: srv.URL})
	}
	if clk.total()-before > time.Second {
		t.Errorf("reads waited on the write budget")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Do(ctx, Request{Method: "POST", URL: srv.URL}); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestSecretsNeverInLogsOrErrors(t *testing.T) {
	const token = "lat_SuperSecretToken123"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := New(Options{Clock: newStepClock(), MaxAttempts: 2, Secrets: []string{token}, Logger: logger})
	// A URL that carries the token (a misconfigured endpoint) and cannot connect.
	_, err := c.Do(context.Background(), Request{Method: "GET", URL: "http://127.0.0.1:1/x?key=" + token,
		Header: http.Header{"Authorization": {token}}})
	if err == nil {
		t.Fatal("expected a connection error")
	}
	if strings.Contains(err.Error(), token) || strings.Contains(logs.String(), token) {
		t.Fatalf("token leaked:\nerr: %v\nlogs: %s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "[REDACTED]") {
		t.Errorf("logs do not show the redaction: %s", logs.String())
	}
	h := c.RedactHeader(http.Header{"Authorization": {token}, "X-Other": {"a " + token}})
	if h.Get("Authorization") != "[REDACTED]" || strings.Contains(h.Get("X-Other"), token) {
		t.Errorf("RedactHeader = %v", h)
	}
}

func TestUnsafeRequestsRetryOnlyRateLimits(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := New(Options{Clock: newStepClock()})
	resp, err := c.Do(context.Background(), Request{Method: "POST", URL: srv.URL, Unsafe: true})
	if err != nil || resp.StatusCode != 502 || n.Load() != 2 {
		t.Fatalf("resp %+v err %v after %d requests; want the 429 retried and the 502 returned", resp, err, n.Load())
	}
}
