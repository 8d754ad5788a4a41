package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

type client struct {
	t   *testing.T
	url string
	tok string
}

func (c client) do(method, path string, body any) (int, http.Header, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Authorization", c.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

func attrs(typ string, a map[string]any) map[string]any {
	return map[string]any{"data": map[string]any{"type": typ, "attributes": a}}
}

func setup(t *testing.T) (*Fake, client, string) {
	f := New(Options{DeployTime: 10 * time.Minute, ConnectTime: 30 * time.Second, IPBase: "127.20.0.10"})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := client{t: t, url: srv.URL, tok: "Bearer " + f.Token()}
	_, _, p := c.do("POST", "/projects", attrs("projects", map[string]any{"name": "p"}))
	return f, c, p["data"].(map[string]any)["id"].(string)
}

func create(c client, project, host string) (int, map[string]any) {
	code, _, out := c.do("POST", "/servers", attrs("servers", map[string]any{"project": project, "plan": "c2-small-x86",
		"site": "DAL", "operating_system": "ipxe", "hostname": host, "ipxe": "http://boot.test/x"}))
	return code, out
}

func status(c client, id string) string {
	_, _, out := c.do("GET", "/servers/"+id, nil)
	return out["data"].(map[string]any)["attributes"].(map[string]any)["status"].(string)
}

func TestLifecycleOnTheSimulatedClock(t *testing.T) {
	f, c, proj := setup(t)
	f.SetFaults(func(x *Faults) { x.OffSpecStatus = true })
	code, out := create(c, proj, "a")
	if code != 201 {
		t.Fatalf("create = %d %v", code, out)
	}
	data := out["data"].(map[string]any)
	id := data["id"].(string)
	if ip := data["attributes"].(map[string]any)["primary_ipv4"]; ip != "127.20.0.10" {
		t.Errorf("first IP = %v, want the configured base", ip)
	}
	var seen []string
	for i := 0; i < 6; i++ {
		seen = append(seen, status(c, id))
		f.Advance(2 * time.Minute)
	}
	want := []string{"starting_deploy", "starting_deploy", "inventory", "deploying", "deploying", "on"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("statuses = %v, want %v", seen, want)
	}
	_, _, vl := c.do("POST", "/virtual_networks", attrs("virtual_network", map[string]any{"site": "DAL", "project": proj, "description": "d"}))
	vlan := vl["data"].(map[string]any)["id"].(string)
	_, _, as := c.do("POST", "/virtual_networks/assignments", attrs("virtual_network_assignment", map[string]any{"server_id": id, "virtual_network_id": vlan}))
	if st := as["data"].(map[string]any)["attributes"].(map[string]any)["status"]; st != "connecting" {
		t.Errorf("new assignment = %v, want connecting", st)
	}
	f.Advance(time.Minute)
	if st := f.State().Assignments[0].Status; st != "connected" {
		t.Errorf("assignment after a minute = %s", st)
	}
	if code, _, _ := c.do("DELETE", "/servers/"+id, nil); code != 204 {
		t.Errorf("delete = %d", code)
	}
	if code, _, _ := c.do("GET", "/servers/"+id, nil); code != 404 {
		t.Errorf("get after delete = %d, want 404", code)
	}
	if len(f.State().Assignments) != 0 {
		t.Error("deleting a server left its assignment")
	}
}

func TestFaults(t *testing.T) {
	f, c, proj := setup(t)
	f.SetFaults(func(x *Faults) { x.FailHostnames = map[string]int{"bad": 1}; x.StuckNext = 1 })
	_, stuck := create(c, proj, "stuck")
	_, bad := create(c, proj, "bad")
	_, good := create(c, proj, "bad") // the second create of the hostname deploys
	f.Advance(time.Hour)
	for _, x := range []struct {
		out  map[string]any
		want string
	}{{stuck, "deploying"}, {bad, "failed_deployment"}, {good, "on"}} {
		if got := status(c, x.out["data"].(map[string]any)["id"].(string)); got != x.want {
			t.Errorf("status = %s, want %s", got, x.want)
		}
	}

	f.SetStock("c2-small-x86", "DAL", 0)
	code, out := create(c, proj, "x")
	if code != 422 || fmt.Sprint(out["errors"].([]any)[0].(map[string]any)["code"]) != "SERVERS_OUT_OF_STOCK" {
		t.Errorf("out of stock create = %d %v", code, out)
	}

	f.SetFaults(func(x *Faults) { x.ServerErrorBurst = 2 })
	for i, want := range []int{503, 503, 200} {
		if code, _, _ := c.do("GET", "/regions", nil); code != want {
			t.Errorf("request %d in a burst of 2 = %d, want %d", i, code, want)
		}
	}
	f.SetFaults(func(x *Faults) { x.RateLimitRate = 1; x.RetryAfterSeconds = 7 })
	code, h, out := c.do("GET", "/regions", nil)
	if code != 429 || h.Get("Retry-After") != "7" || out["errors"] == nil {
		t.Errorf("rate limited = %d %v %v", code, h, out)
	}
	f.SetFaults(func(x *Faults) { x.RateLimitRate = 0 })
	if st := f.State(); st.RateLimited != 1 || st.ServerErrors != 2 || st.Requests["GET /regions"] != 4 {
		t.Errorf("state counts: 429s %d, 5xx %d, requests %v", st.RateLimited, st.ServerErrors, st.Requests)
	}
	if code, _, _ := (client{t: t, url: c.url, tok: "wrong"}).do("GET", "/regions", nil); code != 401 {
		t.Errorf("bad token = %d", code)
	}
}

func TestPagesOfTwentyByDefault(t *testing.T) {
	_, c, _ := setup(t)
	_, _, first := c.do("GET", "/regions", nil)
	_, _, second := c.do("GET", "/regions?page[number]=2", nil)
	_, _, past := c.do("GET", "/regions?page[number]=9", nil)
	n1, n2 := len(first["data"].([]any)), len(second["data"].([]any))
	if n1 != 20 || n1+n2 != len(Sites) || len(past["data"].([]any)) != 0 {
		t.Errorf("pages: %d + %d (of %d), past the end %d", n1, n2, len(Sites), len(past["data"].([]any)))
	}
}

func TestStateEndpoint(t *testing.T) {
	_, c, proj := setup(t)
	create(c, proj, "s1")
	resp, err := http.Get(c.url + "/_fake/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Servers) != 1 || st.Servers[0].Hostname != "s1" || len(st.Projects) != 1 || st.Requests["POST /servers"] != 1 {
		t.Errorf("state = %+v", st)
	}
}

func TestDeployedAndDeletedHooks(t *testing.T) {
	var mu sync.Mutex
	var deployed, deleted []string
	f := New(Options{IPBase: "127.20.0.10",
		OnDeployed: func(s ServerState) {
			mu.Lock()
			deployed = append(deployed, s.Hostname+" "+s.IP+" "+s.IPXE)
			mu.Unlock()
		},
		OnDeleted: func(s ServerState) { mu.Lock(); deleted = append(deleted, s.Hostname); mu.Unlock() },
	})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := client{t: t, url: srv.URL, tok: "Bearer " + f.Token()}
	_, _, p := c.do("POST", "/projects", attrs("projects", map[string]any{"name": "p"}))
	_, out := create(c, p["data"].(map[string]any)["id"].(string), "a")
	id := out["data"].(map[string]any)["id"].(string)

	f.Advance(9 * time.Minute)
	status(c, id)
	if len(deployed) != 0 {
		t.Fatalf("OnDeployed called while deploying: %v", deployed)
	}
	f.Advance(time.Minute)
	// The request that first sees "on" is answered after the hook ran.
	if st := status(c, id); st != "on" || fmt.Sprint(deployed) != "[a 127.20.0.10 http://boot.test/x]" {
		t.Fatalf("status %s, deployed %v; want on and one call with the server's address and iPXE target", st, deployed)
	}
	status(c, id)
	if len(deployed) != 1 {
		t.Errorf("OnDeployed called %d times for one deployment", len(deployed))
	}
	// A reinstall deploys again.
	if code, _, _ := c.do("POST", "/servers/"+id+"/reinstall", attrs("reinstalls", map[string]any{"operating_system": "ipxe", "ipxe": "http://boot.test/y"})); code != 201 {
		t.Fatalf("reinstall = %d", code)
	}
	f.Advance(10 * time.Minute)
	status(c, id)
	if len(deployed) != 2 || deployed[1] != "a 127.20.0.10 http://boot.test/y" {
		t.Errorf("after a reinstall deployed = %v", deployed)
	}
	if code, _, _ := c.do("DELETE", "/servers/"+id, nil); code != 204 || fmt.Sprint(deleted) != "[a]" {
		t.Errorf("delete = %d, deleted = %v", code, deleted)
	}
}
