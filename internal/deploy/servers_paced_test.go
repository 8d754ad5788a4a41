package deploy

import (
	"net/http/httptest"
	"testing"

	"github.com/cto-platform/cto/internal/provider/latitude"
	"github.com/cto-platform/cto/internal/state"
)

// At a provider that paces its own writes, each new server joins the
// cluster's network during the servers step, and the network step finds
// that work done.
func TestPacedServersJoinTheNetworkRightAway(t *testing.T) {
	r, f, _ := machineRun(t, 5)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := latitude.New(latitude.Config{Token: f.Token(), APIURL: srv.URL, Clock: r.Clock}) // the published budget
	if err != nil {
		t.Fatal(err)
	}
	r.Deps.Provider = p
	if err := runUntil(t, r, StepServers); err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if len(st.Networks) != 1 || len(st.Assignments) != 5 {
		t.Fatalf("after the servers step: %d networks, %d assignments; want 1 and 5", len(st.Networks), len(st.Assignments))
	}
	if got := len(r.Journal.LiveResources(state.KindAssignment)); got != 5 {
		t.Fatalf("journal has %d assignments, want 5", got)
	}
	assigns := st.Requests["POST /virtual_networks/assignments"]
	if err := runUntil(t, r, StepNetwork); err != nil {
		t.Fatal(err)
	}
	st = f.State()
	if st.Requests["POST /virtual_networks/assignments"] != assigns || len(st.Networks) != 1 {
		t.Fatalf("the network step assigned again (%d -> %d) or made another network (%d)", assigns, st.Requests["POST /virtual_networks/assignments"], len(st.Networks))
	}
	for _, n := range r.Journal.NodesCopy() {
		if n.PrivateIP == "" {
			t.Errorf("node %s has no private address", n.Name)
		}
	}
	if rec, _ := r.Journal.Step(StepNetwork); rec.Status != state.StepDone {
		t.Fatalf("network step %s", rec.Status)
	}
}
