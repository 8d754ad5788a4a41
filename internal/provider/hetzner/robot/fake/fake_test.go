package fake_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/httpx/httpxtest"

	"github.com/cto-platform/cto/internal/provider/hetzner/robot/fake"
)

func do(t *testing.T, srv *httptest.Server, method, path, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
	req.SetBasicAuth(user, pass)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	var body map[string]any
	code, _ := httpxtest.Call(t, req, &body)
	return code, body
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestThreeFailedLoginsBlockForTenMinutes(t *testing.T) {
	f := fake.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	f.AddServer("AX42", "FSN1-DC14")
	for i := range 3 {
		if code, body := do(t, srv, "GET", "/server", fake.User, "wrong", nil); code != 401 || errCode(body) != "UNAUTHORIZED" {
			t.Fatalf("bad login %d = %d %v", i, code, body)
		}
	}
	if code, body := do(t, srv, "GET", "/server", fake.User, fake.Password, nil); code != 403 || errCode(body) != "BLOCKED" {
		t.Fatalf("good login while blocked = %d %v, want 403 BLOCKED", code, body)
	}
	f.Advance(11 * time.Minute)
	if code, _ := do(t, srv, "GET", "/server", fake.User, fake.Password, nil); code != 200 {
		t.Fatalf("good login after the block = %d", code)
	}
}

func TestWireShapes(t *testing.T) {
	f := fake.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	if code, body := do(t, srv, "GET", "/server", fake.User, fake.Password, nil); code != 404 || errCode(body) != "SERVER_NOT_FOUND" {
		t.Errorf("GET /server with none = %d %v, want Robot's 404 SERVER_NOT_FOUND", code, body)
	}
	n := f.AddServer("AX42", "FSN1-DC14")
	path := "/server/" + itoa(n)
	if code, body := do(t, srv, "POST", path, fake.User, fake.Password, url.Values{"server_name": {"web-1"}}); code != 200 || body["server"].(map[string]any)["server_name"] != "web-1" {
		t.Errorf("rename = %d %v", code, body)
	}
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(`{"server_name":"x"}`))
	req.SetBasicAuth(fake.User, fake.Password)
	req.Header.Set("Content-Type", "application/json")
	resp, _ := http.DefaultClient.Do(req)
	if resp.StatusCode != 400 {
		t.Errorf("a JSON body = %d, want 400 (Robot takes forms)", resp.StatusCode)
	}
	resp.Body.Close()

	// The state dump shows the server, and that nothing cancelled it.
	resp, err := http.Get(srv.URL + "/_fake/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st fake.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Servers) != 1 || st.Servers[0].Name != "web-1" || st.Servers[0].Cancellations != 0 {
		t.Errorf("state = %+v, %v", st, err)
	}
}

func TestVSwitchTakesOneChangeAtATime(t *testing.T) {
	f := fake.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	a, b := f.AddServer("AX42", "FSN1-DC14"), f.AddServer("AX42", "FSN1-DC14")
	code, body := do(t, srv, "POST", "/vswitch", fake.User, fake.Password, url.Values{"name": {"v"}, "vlan": {"4000"}})
	if code != 201 {
		t.Fatalf("create vSwitch = %d %v", code, body)
	}
	id := itoa(int(body["id"].(float64)))
	if code, _ := do(t, srv, "POST", "/vswitch/"+id+"/server", fake.User, fake.Password, url.Values{"server[]": {itoa(a)}}); code != 201 {
		t.Fatalf("add first = %d", code)
	}
	if code, body := do(t, srv, "POST", "/vswitch/"+id+"/server", fake.User, fake.Password, url.Values{"server[]": {itoa(b)}}); code != 409 || errCode(body) != "VSWITCH_IN_PROCESS" {
		t.Fatalf("add second at once = %d %v, want 409 VSWITCH_IN_PROCESS", code, body)
	}
	f.Advance(time.Minute)
	if code, _ := do(t, srv, "DELETE", "/vswitch/"+id+"/server", fake.User, fake.Password, url.Values{"server[]": {itoa(a)}}); code != 201 {
		t.Fatalf("remove = %d", code)
	}
	if code, body := do(t, srv, "POST", "/vswitch", fake.User, fake.Password, url.Values{"name": {"w"}, "vlan": {"4000"}}); code != 409 {
		t.Errorf("a second vSwitch on VLAN 4000 = %d %v", code, body)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
