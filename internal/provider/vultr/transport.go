package vultr

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/httpx"
)

// transport adds the Vultr token to each request and keeps the API's
// answer to a failed call on the side (see answer); retries, Retry-After and
// the request budget are the shared policy of internal/httpx.
type transport struct {
	policy http.RoundTripper
	token  string
}

// newTransport sends through the shared HTTP policy with Vultr's budget:
// about perSecond requests a second per key, reads and writes alike.
func newTransport(token string, c clock.Clock, perSecond float64, maxRetries int) *transport {
	perMinute := int(perSecond * 60)
	h := httpx.New(httpx.Options{
		Clock:          c,
		MaxAttempts:    maxRetries + 1,
		BaseBackoff:    500 * time.Millisecond,
		MaxBackoff:     10 * time.Second,
		ReadsPerMinute: perMinute,
		OneBudget:      true,
		Burst:          max(1, int(perSecond)),
		Secrets:        []string{token},
	})
	return &transport{policy: h.Transport(), token: token}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if t.token != "" {
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := t.policy.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	record(req.Context(), resp)
	return resp, nil
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
	if d, ok := httpx.RetryAfter(resp.Header, time.Now()); ok {
		a.RetryAfter = min(d, time.Minute)
	}
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		a.Message = e.Error
	} else {
		a.Message = http.StatusText(resp.StatusCode)
	}
}
