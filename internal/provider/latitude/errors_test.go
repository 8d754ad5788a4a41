package latitude

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/httpx"
	"github.com/cto-platform/cto/internal/provider"
)

// answerOnce serves status and body to a GET of a server.
func answerOnce(t *testing.T, status int, body string) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.api+json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	_, err := NewClient(srv.URL, "t", httpx.New(httpx.Options{MaxAttempts: 1})).GetServer(context.Background(), "sv_x")
	return err
}

// TestErrorAnswersAsTheAPIGivesThem: a body with message instead of
// title/detail keeps its words, a 403 is a missing permission rather than a
// refused token, and a 423 is a locked server.
func TestErrorAnswersAsTheAPIGivesThem(t *testing.T) {
	for _, c := range []struct {
		status     int
		body       string
		want, not  error
		wantInText string
	}{
		{403, `{"errors":[{"code":"FORBIDDEN","message":"You are not authorized to perform this action"}]}`,
			provider.ErrForbidden, provider.ErrUnauthorized, "not authorized to perform this action"},
		{401, `{"errors":[{"code":"UNAUTHORIZED","message":"Invalid token"}]}`, provider.ErrUnauthorized, provider.ErrForbidden, "Invalid token"},
		{422, `{"errors":[{"code":"VALIDATION_ERROR","message":"Project ID is required"}]}`, provider.ErrInvalid, nil, "Project ID is required"},
		{423, `{"errors":[{"code":null,"status":"locked","title":"Locked Server","detail":"Server is locked and cannot be updated or deleted","meta":{}}]}`,
			provider.ErrLocked, provider.ErrInvalid, "Server is locked"},
	} {
		err := answerOnce(t, c.status, c.body)
		if !errors.Is(err, c.want) || (c.not != nil && errors.Is(err, c.not)) {
			t.Errorf("%d: %v is not %v (or is %v)", c.status, err, c.want, c.not)
		}
		if err == nil || !strings.Contains(err.Error(), c.wantInText) {
			t.Errorf("%d: %v lost the API's words %q", c.status, err, c.wantInText)
		}
	}
}

// TestOpenAPIErrorExamplesKeepTheirWords: every error example of the
// OpenAPI document reads back with its message or detail and the typed
// error its status means.
func TestOpenAPIErrorExamplesKeepTheirWords(t *testing.T) {
	api := loadOpenAPI(t, referenceDir(t))
	typed := map[string]error{"401": provider.ErrUnauthorized, "403": provider.ErrForbidden, "404": provider.ErrNotFound,
		"422": provider.ErrInvalid, "423": provider.ErrLocked}
	paths, _ := api.doc["paths"].(map[string]any)
	checked := 0
	for path, ops := range paths {
		for method, op := range ops.(map[string]any) {
			responses, _ := dig(op, "responses").(map[string]any)
			for status, r := range responses {
				want, ok := typed[status]
				if !ok {
					continue
				}
				content, _ := dig(r, "content").(map[string]any)
				for _, ct := range content {
					examples, _ := dig(ct, "examples").(map[string]any)
					for name, ex := range examples {
						body, _ := json.Marshal(dig(ex, "value"))
						var eb errorBody
						if json.Unmarshal(body, &eb) != nil || len(eb.Errors) == 0 {
							continue
						}
						words := eb.Errors[0].Message
						if eb.Errors[0].Detail != "" {
							words = eb.Errors[0].Detail
						}
						var code int
						fmt.Sscan(status, &code)
						err := answerOnce(t, code, string(body))
						w := want
						if w == provider.ErrInvalid && errors.Is(err, provider.ErrOutOfStock) {
							w = provider.ErrOutOfStock
						}
						if !errors.Is(err, w) {
							t.Errorf("%s %s %s %q: %v is not %v", method, path, status, name, err, w)
						}
						if words != "" && !strings.Contains(err.Error(), words) {
							t.Errorf("%s %s %s %q: %v lost %q", method, path, status, name, err, words)
						}
						checked++
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d error examples checked", checked)
	}
	t.Logf("checked %d error examples", checked)
}

// sleepClock records the waits asked of it and returns at once.
type sleepClock struct {
	mu     sync.Mutex
	slept  []time.Duration
	offset time.Duration
}

func (c *sleepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Unix(1_800_000_000, 0).Add(c.offset)
}

func (c *sleepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.offset += d
	return ctx.Err()
}

// TestRateLimitWaitsForMetaRetryAfter: a 429 that says when to come back
// only in meta.retry_after (no Retry-After header) is waited out that long.
func TestRateLimitWaitsForMetaRetryAfter(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "application/vnd.api+json")
		if n == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"errors":[{"code":"RATE_LIMIT_EXCEEDED","status":"429","title":"Too Many Requests","meta":{"retry_after":17}}]}`)
			return
		}
		fmt.Fprint(w, `{"data":{"id":"sv_x","type":"servers","attributes":{"hostname":"h","status":"on"}},"meta":{}}`)
	}))
	defer srv.Close()
	clk := &sleepClock{}
	p, err := New(Config{Token: "t", APIURL: srv.URL, Clock: clk, ReadsPerMinute: -1, WritesPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetServer(context.Background(), "sv_x"); err != nil {
		t.Fatal(err)
	}
	clk.mu.Lock()
	defer clk.mu.Unlock()
	if len(clk.slept) != 1 || clk.slept[0] != 17*time.Second {
		t.Errorf("waited %v, want one wait of 17s as meta.retry_after says", clk.slept)
	}
}
