package fake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConnectionResetAnswersNothing(t *testing.T) {
	f, c, _ := setup(t)
	f.SetFaults(func(x *Faults) { x.ResetNext = 1 })
	req, _ := http.NewRequest("GET", c.url+"/regions", nil)
	req.Header.Set("Authorization", c.tok)
	// A fresh transport: a reset is only reported on a new connection
	// (net/http retries an idempotent request once on a reused one).
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a reset request got an answer: %d", resp.StatusCode)
	}
	if code, _, _ := c.do("GET", "/regions", nil); code != 200 {
		t.Errorf("the request after the reset = %d, want 200", code)
	}
	if st := f.State(); st.Resets != 1 {
		t.Errorf("resets counted %d, want 1", st.Resets)
	}
}

func TestMalformedAnswersAreNotJSON(t *testing.T) {
	f, c, proj := setup(t)
	f.SetFaults(func(x *Faults) { x.MalformedNext = 1 })
	// Writes are never garbled: an order must do what its answer says.
	if code, _ := create(c, proj, "w"); code != 201 {
		t.Fatalf("create during MalformedNext = %d, want 201", code)
	}
	req, _ := http.NewRequest("GET", c.url+"/servers", nil)
	req.Header.Set("Authorization", c.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var v any
	if resp.StatusCode != 200 || json.Unmarshal(body, &v) == nil {
		t.Fatalf("malformed answer = %d %q, want 200 and a body that is not JSON", resp.StatusCode, body)
	}
	if code, _, out := c.do("GET", "/servers", nil); code != 200 || len(out["data"].([]any)) != 1 {
		t.Errorf("the read after = %d %v", code, out)
	}
	if st := f.State(); st.Malformed != 1 {
		t.Errorf("malformed counted %d, want 1", st.Malformed)
	}
}

func TestSlowNextDelaysOnlyThoseAnswers(t *testing.T) {
	f, c, _ := setup(t)
	f.SetFaults(func(x *Faults) { x.SlowNext = 1; x.SlowLatency = 300 * time.Millisecond })
	start := time.Now()
	c.do("GET", "/regions", nil)
	slow := time.Since(start)
	start = time.Now()
	c.do("GET", "/regions", nil)
	fast := time.Since(start)
	if slow < 300*time.Millisecond || fast >= 300*time.Millisecond {
		t.Errorf("first answer took %v (want >= 300ms), second %v (want less)", slow, fast)
	}
}

func TestRevokedTokenIsRefused(t *testing.T) {
	f, c, _ := setup(t)
	f.SetFaults(func(x *Faults) { x.Revoked = true })
	code, _, out := c.do("GET", "/servers", nil)
	if code != 401 || out["errors"] == nil {
		t.Fatalf("revoked token = %d %v, want 401 with errors", code, out)
	}
	f.SetFaults(func(x *Faults) { x.Revoked = false })
	if code, _, _ := c.do("GET", "/servers", nil); code != 200 {
		t.Errorf("after restoring the token = %d", code)
	}
}

func TestStuckAssignmentNeverConnects(t *testing.T) {
	f, c, proj := setup(t)
	_, a := create(c, proj, "a")
	_, b := create(c, proj, "b")
	_, _, net := c.do("POST", "/virtual_networks", attrs("virtual_network", map[string]any{"project": proj, "site": "DAL", "description": "n"}))
	netID := net["data"].(map[string]any)["id"].(string)
	f.SetFaults(func(x *Faults) { x.StuckAssignmentNext = 1 })
	for _, s := range []map[string]any{a, b} {
		code, _, out := c.do("POST", "/virtual_networks/assignments", attrs("virtual_network_assignment",
			map[string]any{"server_id": s["data"].(map[string]any)["id"], "virtual_network_id": netID}))
		if code != 201 {
			t.Fatalf("assign = %d %v", code, out)
		}
	}
	f.Advance(24 * time.Hour)
	got := map[string]int{}
	for _, as := range f.State().Assignments {
		got[as.Status]++
	}
	if got["connecting"] != 1 || got["connected"] != 1 {
		t.Errorf("assignment statuses a day later: %v, want one stuck connecting and one connected", got)
	}
	f.Unstick()
	for _, as := range f.State().Assignments {
		if as.Status != "connected" {
			t.Errorf("assignment %s is %s after Unstick", as.ID, as.Status)
		}
	}
}

func TestUnknownStatusWhileDeploying(t *testing.T) {
	f, c, proj := setup(t)
	f.SetFaults(func(x *Faults) { x.UnknownStatus = "provisioning_hw" })
	_, s := create(c, proj, "u")
	id := s["data"].(map[string]any)["id"].(string)
	if got := status(c, id); got != "provisioning_hw" {
		t.Errorf("status while deploying = %s", got)
	}
	f.Advance(time.Hour)
	if got := status(c, id); got != "on" {
		t.Errorf("status once deployed = %s, want on", got)
	}
}

func TestClampPagesRepeatsTheLastPage(t *testing.T) {
	f, c, _ := setup(t)
	f.SetFaults(func(x *Faults) { x.ClampPages = true })
	_, _, last := c.do("GET", "/regions?page[number]=2", nil)
	_, _, past := c.do("GET", "/regions?page[number]=9", nil)
	ids := func(out map[string]any) string {
		var s []string
		for _, r := range out["data"].([]any) {
			s = append(s, r.(map[string]any)["id"].(string))
		}
		return strings.Join(s, ",")
	}
	if ids(past) == "" || ids(past) != ids(last) {
		t.Errorf("page 9 = %q, want the last page %q again", ids(past), ids(last))
	}
}

func TestStaleTotalPromisesMoreRowsThanTheListHolds(t *testing.T) {
	f, c, _ := setup(t)
	f.SetFaults(func(x *Faults) { x.StaleTotal = 3 })
	_, _, first := c.do("GET", "/regions?page[size]=100&stats[total]=count", nil)
	total := first["meta"].(map[string]any)["stats"].(map[string]any)["total"].(map[string]any)["count"]
	if n := len(first["data"].([]any)); n != len(Sites) || total != float64(len(Sites)+3) {
		t.Errorf("page 1: %d rows, total %v; want all %d rows and a total of %d", n, total, len(Sites), len(Sites)+3)
	}
	if f.Fired().PastEnd != 0 {
		t.Errorf("past the end = %d before any page past the end was asked", f.Fired().PastEnd)
	}
	_, _, past := c.do("GET", "/regions?page[size]=100&page[number]=2&stats[total]=count", nil)
	if n := len(past["data"].([]any)); n != 0 || f.Fired().PastEnd != 1 {
		t.Errorf("page 2: %d rows, past the end counted %d; want an empty page, counted once", n, f.Fired().PastEnd)
	}
}
