package fake

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/httpx/httpxtest"
)

func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	var out map[string]any
	code, err := httpxtest.Call(t, req, &out)
	if err != nil {
		t.Fatal(err)
	}
	return code, out
}

func TestEnvelopeAndState(t *testing.T) {
	s := New("tok", "example.test")
	s.Start()
	defer s.Close()

	code, out := call(t, "GET", s.URL()+"/zones?name=example.test", "tok", "")
	zones, _ := out["result"].([]any)
	if code != 200 || out["success"] != true || len(zones) != 1 || out["result_info"] == nil || out["errors"] == nil || out["messages"] == nil {
		t.Fatalf("zones: %d %v", code, out)
	}
	zid := zones[0].(map[string]any)["id"].(string)

	code, out = call(t, "POST", s.URL()+"/zones/"+zid+"/dns_records", "tok", `{"type":"A","name":"api.c1","content":"192.0.2.1","ttl":300,"comment":"cto-cluster=c1"}`)
	rec, _ := out["result"].(map[string]any)
	if code != 200 || rec["name"] != "api.c1.example.test" || rec["comment"] != "cto-cluster=c1" || len(rec["id"].(string)) != 32 {
		t.Fatalf("create: %d %v", code, out)
	}
	code, out = call(t, "POST", s.URL()+"/zones/"+zid+"/dns_records", "tok", `{"type":"A","name":"api.c1.example.test","content":"192.0.2.1","ttl":300}`)
	if code != 400 || out["success"] != false || !strings.Contains(toJSON(out["errors"]), "81058") {
		t.Fatalf("duplicate: %d %v", code, out)
	}
	code, _ = call(t, "POST", s.URL()+"/zones/"+zid+"/dns_records", "tok", `{"type":"A","name":"x","content":"2001:db8::1","ttl":300}`)
	if code != 400 {
		t.Fatalf("an IPv6 A record must be refused: %d", code)
	}
	code, out = call(t, "GET", s.URL()+"/zones/"+zid+"/dns_records?comment.exact=cto-cluster%3Dc1", "tok", "")
	if code != 200 || len(out["result"].([]any)) != 1 {
		t.Fatalf("filter by comment: %v", out)
	}
	code, out = call(t, "PATCH", s.URL()+"/zones/"+zid+"/dns_records/"+rec["id"].(string), "tok", `{"content":"192.0.2.9"}`)
	if code != 200 || out["result"].(map[string]any)["content"] != "192.0.2.9" {
		t.Fatalf("patch: %v", out)
	}
	if code, _ = call(t, "GET", s.URL()+"/zones", "nope", ""); code != 403 {
		t.Fatalf("bad token: %d", code)
	}
	if code, _ = call(t, "DELETE", s.URL()+"/zones/"+zid+"/dns_records/"+rec["id"].(string), "tok", ""); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if code, out = call(t, "DELETE", s.URL()+"/zones/"+zid+"/dns_records/"+rec["id"].(string), "tok", ""); code != 404 || !strings.Contains(toJSON(out["errors"]), "81044") {
		t.Fatalf("delete again: %d %v", code, out)
	}

	_, st := call(t, "GET", strings.TrimSuffix(s.URL(), "/client/v4")+"/_fake/state", "", "")
	if st["calls"].(map[string]any)["POST dns_records"].(float64) != 3 || st["records"].(map[string]any)["example.test"] == nil {
		t.Fatalf("state: %v", st)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
