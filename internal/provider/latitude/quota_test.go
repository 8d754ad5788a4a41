package latitude

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// TestFakeQuotaAnswersAsTheReferenceSays: past the per-minute quota the
// double answers 429 RATE_LIMIT_EXCEEDED with meta.retry_after and a
// Retry-After header, an error object of the OpenAPI document.
func TestFakeQuotaAnswersAsTheReferenceSays(t *testing.T) {
	api := loadOpenAPI(t, referenceDir(t))
	f, base := serveFake(t, fake.Options{Quota: fake.PublishedQuota})
	get := func() (*http.Response, []byte) { return sendFake(t, f, base, http.MethodGet, "/regions", "") }
	for i := range fake.PublishedQuota.ReadsPerMinute {
		if resp, _ := get(); resp.StatusCode != 200 {
			t.Fatalf("read %d of the quota answered %d", i+1, resp.StatusCode)
		}
	}
	resp, body := get()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("read past the quota answered %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	for _, e := range api.validate(map[string]any{"$ref": "#/components/schemas/error_object"}, out, "$") {
		t.Error(e)
	}
	if ra, ok := RetryAfterBody(body); !ok || ra <= 0 || !strings.Contains(string(body), "RATE_LIMIT_EXCEEDED") {
		t.Errorf("429 body %s lacks the code or meta.retry_after", body)
	}
	if f.State().RateLimited != 1 {
		t.Errorf("the double counted %d rate limits, want 1", f.State().RateLimited)
	}
	f.Advance(61e9)
	if resp, _ := get(); resp.StatusCode != 200 {
		t.Errorf("a read a minute later answered %d", resp.StatusCode)
	}
}

// TestPublishedBudgetStaysInsideTheQuota: the client's own budget keeps a
// burst of creates inside the API's quota: no 429 at all.
func TestPublishedBudgetStaysInsideTheQuota(t *testing.T) {
	clk := clock.NewScaled(600)
	f, base := serveFake(t, fake.Options{Clock: clk, Quota: fake.PublishedQuota})
	p := providerOn(t, f, base, Config{Clock: clk})
	for i := range 25 {
		mustCreate(t, p, ipxeServer("q", fmt.Sprintf("q-%d", i), "https://pxe.test/x"))
	}
	if n := f.State().RateLimited; n != 0 {
		t.Errorf("the API answered %d rate limits to a client holding the published budget", n)
	}
}
