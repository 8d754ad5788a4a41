package fake_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider/vultr/fake"
)

// These tests speak HTTP to the fake directly, so its wire format is
// checked without the client in between.

type client struct {
	t   *testing.T
	url string
	key string
}

func (c client) do(method, path, body string) (int, http.Header, map[string]json.RawMessage) {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, c.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var doc map[string]json.RawMessage
	if len(data) > 0 {
		if err := json.Unmarshal(data, &doc); err != nil {
			c.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, data)
		}
	}
	return resp.StatusCode, resp.Header, doc
}

func start(t *testing.T, o fake.Options) (*fake.API, client) {
	api := fake.New(o)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, client{t: t, url: srv.URL, key: api.Token()}
}

func TestErrorsHaveVultrsShape(t *testing.T) {
	api, c := start(t, fake.Options{})
	bad := c
	bad.key = "nope"
	code, hdr, doc := bad.do("GET", "/v2/account", "")
	if code != 401 || hdr.Get("Content-Type") != "application/json" || string(doc["status"]) != "401" || !strings.Contains(string(doc["error"]), "Invalid API token") {
		t.Errorf("bad key: %d %v %v", code, hdr, doc)
	}
	code, _, doc = c.do("GET", "/v2/bare-metals/nope", "")
	if code != 404 || string(doc["status"]) != "404" {
		t.Errorf("unknown server: %d %v", code, doc)
	}
	api.RateLimit(1, 2*time.Second)
	code, hdr, _ = c.do("GET", "/v2/regions", "")
	if code != 429 || hdr.Get("Retry-After") != "2" {
		t.Errorf("rate limited: %d, Retry-After %q", code, hdr.Get("Retry-After"))
	}
	api.Break(1, 503)
	if code, _, _ = c.do("GET", "/v2/regions", ""); code != 503 {
		t.Errorf("broken: %d, want 503", code)
	}
	if code, _, _ = c.do("GET", "/v2/regions", ""); code != 200 {
		t.Errorf("after the faults: %d, want 200", code)
	}
}

func TestCursorPagination(t *testing.T) {
	_, c := start(t, fake.Options{})
	var cursor string
	var seen []string
	for page := 0; ; page++ {
		path := "/v2/regions?per_page=4"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, _, doc := c.do("GET", path, "")
		if code != 200 {
			t.Fatalf("page %d: %d", page, code)
		}
		var regions []struct{ ID string }
		var meta struct {
			Total int
			Links struct{ Next, Prev string }
		}
		json.Unmarshal(doc["regions"], &regions)
		json.Unmarshal(doc["meta"], &meta)
		if meta.Total != 6 {
			t.Errorf("meta.total = %d, want 6", meta.Total)
		}
		if (page == 0) != (meta.Links.Prev == "") {
			t.Errorf("page %d: prev = %q", page, meta.Links.Prev)
		}
		for _, r := range regions {
			seen = append(seen, r.ID)
		}
		if cursor = meta.Links.Next; cursor == "" {
			break
		}
	}
	if strings.Join(seen, ",") != "ewr,ord,lax,ams,fra,nrt" {
		t.Errorf("regions over pages = %v", seen)
	}
	if code, _, _ := c.do("GET", "/v2/regions?cursor=garbage", ""); code != 400 {
		t.Errorf("a bad cursor answered %d, want 400", code)
	}
}

func TestServersDeployOverSimulatedTime(t *testing.T) {
	api, c := start(t, fake.Options{DeployTime: 10 * time.Minute})
	body := `{"region":"ewr","plan":"vbm-4c-32gb","os_id":159,"label":"n1","tags":["t"],"ipxe_chain_url":"http://127.0.0.1:9/pxe"}`
	code, _, doc := c.do("POST", "/v2/bare-metals", body)
	if code != 202 {
		t.Fatalf("create: %d %v", code, doc)
	}
	var s struct{ ID string }
	json.Unmarshal(doc["bare_metal"], &s)
	status := func() (string, string) {
		_, _, doc := c.do("GET", "/v2/bare-metals/"+s.ID, "")
		var v struct {
			Status string `json:"status"`
			MainIP string `json:"main_ip"`
		}
		json.Unmarshal(doc["bare_metal"], &v)
		return v.Status, v.MainIP
	}
	api.Advance(9 * time.Minute)
	if st, ip := status(); st != "pending" || ip != "" {
		t.Errorf("after 9 of 10 minutes: %s %q, want pending without an address", st, ip)
	}
	api.Advance(time.Minute)
	if st, ip := status(); st != "active" || ip == "" {
		t.Errorf("after 10 minutes: %s %q, want active with an address", st, ip)
	}
	api.OutOfStock("vbm-4c-32gb", "ewr")
	code, _, doc = c.do("POST", "/v2/bare-metals", body)
	if code != 400 || !strings.Contains(string(doc["error"]), "not available") {
		t.Errorf("create when sold out: %d %v", code, doc)
	}
	resp, err := http.Get(c.url + "/_fake/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Creates    int `json:"creates"`
		BareMetals []struct {
			Status string `json:"status"`
		} `json:"bare_metals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Creates != 1 || len(st.BareMetals) != 1 || st.BareMetals[0].Status != "active" {
		t.Errorf("/_fake/state = %+v, %v", st, err)
	}
}

func TestActiveHookAndLoopbackAddresses(t *testing.T) {
	var active, deleted []fake.BareMetal
	api, c := start(t, fake.Options{DeployTime: time.Minute, IPBase: "127.9.9.50",
		OnActive:  func(s fake.BareMetal) { active = append(active, s) },
		OnDeleted: func(s fake.BareMetal) { deleted = append(deleted, s) }})
	body := `{"region":"ewr","plan":"vbm-4c-32gb","os_id":159,"label":"n1","ipxe_chain_url":"http://127.0.0.1:9/pxe"}`
	_, _, doc := c.do("POST", "/v2/bare-metals", body)
	var s struct{ ID string }
	json.Unmarshal(doc["bare_metal"], &s)
	c.do("GET", "/v2/bare-metals", "")
	if len(active) != 0 {
		t.Fatalf("OnActive before the deploy finished: %+v", active)
	}
	api.Advance(2 * time.Minute)
	c.do("GET", "/v2/bare-metals", "")
	c.do("GET", "/v2/bare-metals", "")
	if len(active) != 1 || active[0].MainIP != "127.9.9.50" || active[0].IPXEChainURL != "http://127.0.0.1:9/pxe" {
		t.Fatalf("OnActive calls = %+v, want one, on 127.9.9.50", active)
	}
	c.do("DELETE", "/v2/bare-metals/"+s.ID, "")
	if len(deleted) != 1 || deleted[0].ID != s.ID {
		t.Fatalf("OnDeleted calls = %+v", deleted)
	}
}

func TestPlansAndRegionsArePublic(t *testing.T) {
	srv := httptest.NewServer(fake.New(fake.Options{}))
	defer srv.Close()
	for path, want := range map[string]int{"/v2/plans-metal": 200, "/v2/regions": 200, "/v2/bare-metals": 401, "/v2/account": 401} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a key: %d, want %d", path, resp.StatusCode, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/plans-metal", nil)
	req.Header.Set("Authorization", "Bearer wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("a wrong key on a public listing: %v %v, want 401", resp.StatusCode, err)
	}
}
