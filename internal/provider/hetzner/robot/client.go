// Package robot is the Hetzner Robot provider (--provider hetzner-robot)
// for dedicated servers, over a small hand-written client of the Robot web
// service (HTTP Basic, form-encoded requests, JSON answers). Servers are
// adopted by number, or ordered only when the spec allows it and the cost
// is confirmed; Talos goes on through the rescue system; destroy releases
// servers and never cancels them.
package robot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/httpx"
	"github.com/cto-platform/cto/internal/provider"
)

// DefaultEndpoint is the Robot web service.
const DefaultEndpoint = "https://robot-ws.your-server.de"

// Client talks to the Robot web service.
type Client struct {
	base       string
	user, pass string
	http       *http.Client
}

// NewClient returns a client; hc's transport is wrapped in the Robot policy.
func NewClient(base, user, pass string, hc *http.Client, clk clock.Clock) *Client {
	if base == "" {
		base = DefaultEndpoint
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	if clk == nil {
		clk = clock.Real{}
	}
	c := *hc
	c.Transport = newPolicy(hc.Transport, clk, 4, time.Minute)
	return &Client{base: strings.TrimRight(base, "/"), user: user, pass: pass, http: &c}
}

// Error is Robot's error answer.
type Error struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Interval is the rate-limit window in seconds (RATE_LIMIT_EXCEEDED).
	Interval   int `json:"interval,omitempty"`
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code) }

// Is maps Robot's answers onto the typed errors of package provider.
func (e *Error) Is(target error) bool {
	switch target {
	case provider.ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case provider.ErrNotFound:
		return e.Status == http.StatusNotFound || strings.HasSuffix(e.Code, "_NOT_FOUND")
	case provider.ErrRateLimited:
		return e.Status == http.StatusTooManyRequests || e.Code == "RATE_LIMIT_EXCEEDED"
	case provider.ErrOutOfStock:
		return strings.Contains(e.Code, "NOT_AVAILABLE") || strings.Contains(e.Code, "OUT_OF_STOCK")
	case provider.ErrInvalid:
		return e.Code == "INVALID_INPUT" || e.Status == http.StatusBadRequest
	}
	return false
}

// IsCode reports whether err is a Robot error with one of codes.
func IsCode(err error, codes ...string) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

// rateLimit turns a rate-limit answer into provider.RateLimitError.
func (e *Error) rateLimit() error {
	if !e.Is(provider.ErrRateLimited) {
		return e
	}
	wait := e.RetryAfter
	if wait == 0 && e.Interval > 0 {
		wait = time.Duration(e.Interval) * time.Second
	}
	return &provider.RateLimitError{RetryAfter: wait, Detail: e.Message}
}

// do sends one request. form goes in the body (POST, PUT, DELETE) or the
// query (GET); out receives the JSON answer.
func (c *Client) do(ctx context.Context, method, path string, form url.Values, out any) error {
	u := c.base + path
	var body io.Reader
	if len(form) > 0 {
		if method == http.MethodGet {
			u += "?" + form.Encode()
		} else {
			body = strings.NewReader(form.Encode())
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrLoginStopped) {
			return fmt.Errorf("%s %s: %w: %w", method, path, provider.ErrUnauthorized, ErrLoginStopped)
		}
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		var wrapped struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(data, &wrapped) == nil && wrapped.Error != nil {
			e = wrapped.Error
			if e.Status == 0 {
				e.Status = resp.StatusCode
			}
		}
		if d, ok := httpx.RetryAfter(resp.Header, time.Now()); ok {
			e.RetryAfter = d
		}
		if e.Status == http.StatusUnauthorized {
			return fmt.Errorf("%s %s: %w (check HETZNER_ROBOT_USER and HETZNER_ROBOT_PASSWORD: the web-service user, not the Robot login; cto stops here because 3 failed logins block the IP for 10 minutes)", method, path, provider.ErrUnauthorized)
		}
		return fmt.Errorf("%s %s: %w", method, path, e.rateLimit())
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	return nil
}
