package fake_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cto-platform/cto/internal/httpx/httpxtest"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"

	"github.com/cto-platform/cto/internal/provider/hetzner/fake"
)

func call(t *testing.T, srv *httptest.Server, method, path, token string, body any, out any) int {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		json.NewEncoder(&buf).Encode(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	code, _ := httpxtest.Call(t, req, out)
	return code
}

func TestServerLifecycleOnTheWire(t *testing.T) {
	f := fake.New(fake.Options{})
	srv := httptest.NewServer(f)
	defer srv.Close()

	var e schema.ErrorResponse
	if code := call(t, srv, "GET", "/servers", "nope", nil, &e); code != 401 || e.Error.Code != "unauthorized" {
		t.Errorf("bad token = %d %+v", code, e)
	}
	start := false
	labels := map[string]string{"cto.cluster": "c", "cto.role": "worker"}
	var created schema.ServerCreateResponse
	code := call(t, srv, "POST", "/servers", fake.Token, schema.ServerCreateRequest{Name: "c-1", ServerType: schema.IDOrName{Name: "cx23"},
		Image: schema.IDOrName{Name: "debian-12"}, Location: "fsn1", StartAfterCreate: &start, Labels: &labels}, &created)
	if code != 201 || created.Server.Status != "initializing" || created.Action.Status != "running" {
		t.Fatalf("create = %d %+v", code, created)
	}
	id := created.Server.ID
	var locked schema.ErrorResponse
	if code := call(t, srv, "POST", "/servers/"+itoa(id)+"/actions/poweron", fake.Token, struct{}{}, &locked); code != 423 || locked.Error.Code != "locked" {
		t.Errorf("power on while creating = %d %+v, want 423 locked", code, locked)
	}
	f.Settle()
	var actions schema.ActionListResponse
	call(t, srv, "GET", "/actions?id="+itoa(created.Action.ID), fake.Token, nil, &actions)
	if len(actions.Actions) != 1 || actions.Actions[0].Status != "success" {
		t.Errorf("create action after Settle = %+v", actions)
	}
	var list schema.ServerListResponse
	call(t, srv, "GET", "/servers?label_selector=cto.cluster%3D%3Dc%2Ccto.role%3D%3Dworker", fake.Token, nil, &list)
	if len(list.Servers) != 1 || list.Servers[0].Status != "off" {
		t.Errorf("label-selected list = %+v, want the stopped server", list.Servers)
	}
	call(t, srv, "GET", "/servers?label_selector=cto.cluster%3D%3Dother", fake.Token, nil, &list)
	if len(list.Servers) != 0 {
		t.Errorf("another cluster's selector matched %+v", list.Servers)
	}
	var bad schema.ErrorResponse
	if code := call(t, srv, "POST", "/servers", fake.Token, schema.ServerCreateRequest{Name: "c-2", ServerType: schema.IDOrName{Name: "cx23"},
		Image: schema.IDOrName{Name: "debian-12"}, Location: "ash"}, &bad); code != 412 || bad.Error.Code != "resource_unavailable" {
		t.Errorf("cx23 in ash (not offered) = %d %+v", code, bad)
	}

	resp, err := http.Get(srv.URL + "/_fake/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st fake.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Servers) != 1 || st.Requests < 5 {
		t.Errorf("state = %+v, %v", st, err)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestBootHooksAndLoopbackAddresses(t *testing.T) {
	var booted, stopped []fake.Booted
	f := fake.New(fake.Options{IPBase: "127.9.9.10",
		OnBooted:  func(b fake.Booted) { booted = append(booted, b) },
		OnStopped: func(b fake.Booted) { stopped = append(stopped, b) }})
	srv := httptest.NewServer(f)
	defer srv.Close()

	start := false
	var created schema.ServerCreateResponse
	call(t, srv, "POST", "/servers", fake.Token, schema.ServerCreateRequest{Name: "c-1", ServerType: schema.IDOrName{Name: "cx23"},
		Image: schema.IDOrName{Name: "debian-12"}, Location: "fsn1", StartAfterCreate: &start}, &created)
	if ip := created.Server.PublicNet.IPv4.IP; ip != "127.9.9.10" {
		t.Errorf("first server's address = %s, want 127.9.9.10", ip)
	}
	id := fmt.Sprint(created.Server.ID)
	f.Settle()
	call(t, srv, "POST", "/servers/"+id+"/actions/attach_iso", fake.Token, map[string]any{"iso": "talos-v1.13.9-amd64.iso"}, nil)
	f.Settle()
	call(t, srv, "POST", "/servers/"+id+"/actions/poweron", fake.Token, nil, nil)
	f.Settle()
	call(t, srv, "GET", "/servers/"+id, fake.Token, nil, nil)
	if len(booted) != 1 || booted[0].What != "iso:talos-v1.13.9-amd64.iso" || booted[0].IP != "127.9.9.10" {
		t.Fatalf("OnBooted calls = %+v, want one ISO boot on 127.9.9.10", booted)
	}
	call(t, srv, "DELETE", "/servers/"+id, fake.Token, nil, nil)
	f.Settle()
	call(t, srv, "GET", "/servers", fake.Token, nil, nil)
	if len(stopped) != 1 || stopped[0].ID != created.Server.ID {
		t.Fatalf("OnStopped calls = %+v, want the deleted server", stopped)
	}
	// The address is free again.
	call(t, srv, "POST", "/servers", fake.Token, schema.ServerCreateRequest{Name: "c-2", ServerType: schema.IDOrName{Name: "cx23"},
		Image: schema.IDOrName{Name: "debian-12"}, Location: "fsn1"}, &created)
	if ip := created.Server.PublicNet.IPv4.IP; ip != "127.9.9.10" {
		t.Errorf("address after the first server went = %s, want 127.9.9.10 again", ip)
	}
}

func TestLoadBalancerHook(t *testing.T) {
	var events []string
	f := fake.New(fake.Options{IPBase: "127.9.9.10", OnLoadBalancer: func(ip string, up bool) { events = append(events, fmt.Sprintf("%s %v", ip, up)) }})
	srv := httptest.NewServer(f)
	defer srv.Close()
	loc := "fsn1"
	var created schema.LoadBalancerCreateResponse
	call(t, srv, "POST", "/load_balancers", fake.Token, schema.LoadBalancerCreateRequest{Name: "c-api",
		LoadBalancerType: schema.IDOrName{Name: "lb11"}, Location: &loc}, &created)
	call(t, srv, "DELETE", fmt.Sprintf("/load_balancers/%d", created.LoadBalancer.ID), fake.Token, nil, nil)
	if fmt.Sprint(events) != "[127.9.9.10 true 127.9.9.10 false]" {
		t.Errorf("OnLoadBalancer calls = %v, want up then down on 127.9.9.10", events)
	}
}
