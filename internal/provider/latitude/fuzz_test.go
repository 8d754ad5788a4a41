package latitude

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider"
)

// canned answers every request with one status and body.
type canned struct {
	status int
	body   []byte
}

func (c canned) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), Request: r}, nil
}

const fuzzToken = "tok-SECRET-fuzz-0123456789"

// FuzzDecodeAnswer feeds arbitrary answers to the provider's reads: it
// never panics, never loops, an error answer is an error, and the token
// never reaches an error message.
func FuzzDecodeAnswer(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, `{"data":[{"id":"sv_1","type":"servers","attributes":{"hostname":"a","status":"on","primary_ipv4":"127.0.0.1","tags":[{"id":"tag_1","name":"c"}],"region":{"site":{"slug":"DAL"}}}}],"meta":{}}`},
		{200, `{"data":{"id":"sv_1","type":"servers","attributes":{"hostname":"a","status":"weird","tags":["tag_1"],"primary_ipv4":null}}}`},
		{200, `{"data":[{"id":"vnasg_1","attributes":{"virtual_network_id":"vlan_1","status":"connecting","server":{"id":"sv_1"}}}]}`},
		{200, `{"data":[`},
		{200, `not json at all`},
		{200, ``},
		{200, `{"data":null}`},
		{200, `{"data":[{"id":"","attributes":{"tags":7}}]}`},
		{401, `{"errors":[{"code":"UNAUTHORIZED","status":"401","title":"Unauthorized","detail":"Invalid token ` + fuzzToken + `"}]}`},
		{422, `{"errors":[{"code":"SERVERS_OUT_OF_STOCK","status":"422","detail":"no stock"}]}`},
		{429, `{"errors":[{"code":"RATE_LIMIT_EXCEEDED","meta":{"retry_after":1.5}}]}`},
		{404, `<html>not found</html>`},
		{503, `{"errors":[{"code":null,"status":503}]}`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		p, err := New(Config{Token: fuzzToken, APIURL: "http://latitude.invalid", Project: "proj_1",
			ReadsPerMinute: -1, WritesPerMinute: -1, MaxAttempts: 1, Timeout: time.Second,
			HTTPClient: &http.Client{Transport: canned{status, body}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		check := func(what string, err error) {
			if status >= 300 && err == nil {
				t.Errorf("%s: answer %d read as success", what, status)
			}
			if err != nil && strings.Contains(err.Error(), fuzzToken) {
				t.Errorf("%s: the token is in the error: %v", what, err)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s did not end: %v", what, ctx.Err())
			}
		}
		s, err := p.GetServer(ctx, "sv_1")
		check("GetServer", err)
		if err == nil && s.Status != provider.StatusReady && s.Status != provider.StatusPending &&
			s.Status != provider.StatusFailed && s.Status != provider.StatusDeleting {
			t.Errorf("server status %q is not a domain status", s.Status)
		}
		_, err = p.api.Servers(ctx, nil)
		check("Servers", err)
		_, err = p.api.Assignments(ctx, nil)
		check("Assignments", err)
		_, err = p.ListRegions(ctx)
		check("ListRegions", err)
	})
}
