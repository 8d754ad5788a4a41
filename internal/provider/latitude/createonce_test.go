package latitude

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// TestLostCreateAnswersMakeNoDuplicates: a project, tag, VLAN or
// assignment create whose answer is lost (the create went through) is
// looked up before it is sent again: one of each, the VLAN tagged.
func TestLostCreateAnswersMakeNoDuplicates(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	f.SetFaults(func(x *fake.Faults) {
		x.LoseAnswers = map[string]int{"POST /projects": 1, "POST /tags": 1, "POST /virtual_networks": 1, "POST /virtual_networks/assignments": 1}
	})
	p := providerOn(t, f, base, Config{ReadsPerMinute: -1, WritesPerMinute: -1, Clock: clock.NewScaled(100)})
	serverOnVLAN(t, p, ipxeServer("lost", "lost-cp1", "https://pxe.test/x"))
	st := f.State()
	if st.ServerErrors != 4 {
		t.Fatalf("the double lost %d answers, want 4", st.ServerErrors)
	}
	if len(st.Projects) != 1 || len(st.Tags) != 1 || len(st.Networks) != 1 || len(st.Assignments) != 1 {
		t.Fatalf("%d projects, %d tags, %d VLANs, %d assignments; want one of each", len(st.Projects), len(st.Tags), len(st.Networks), len(st.Assignments))
	}
	if tags := st.Networks[0].Tags; len(tags) != 1 || tags[0] != "lost" {
		t.Errorf("the VLAN carries tags %v, want the cluster's", tags)
	}
}

// A server create whose answer is lost is found and adopted, not
// ordered again.
func TestCreateWithALostAnswerOrdersOnce(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	p := providerOn(t, f, base, Config{Clock: instantClock{}})
	f.SetFaults(func(x *fake.Faults) { x.LoseCreateAnswers = 1 })
	s := mustCreate(t, p, ipxeServer("c", "c-cp1", "http://boot.test/x"))
	st := f.State()
	if len(st.Servers) != 1 || st.Servers[0].ID != s.ID || st.Requests["POST /servers"] != 1 {
		t.Fatalf("servers %+v after %d creates; want the one whose answer was lost, adopted", st.Servers, st.Requests["POST /servers"])
	}
	if !slices.Contains(st.Servers[0].Tags, "c") {
		t.Errorf("the adopted server was not tagged: %+v", st.Servers[0])
	}
}

// TestFakeNameTakenIsTheDocuments: a second tag or project of one name is
// refused with the OpenAPI document's NAME_ALREADY_TAKEN example.
func TestFakeNameTakenIsTheDocuments(t *testing.T) {
	api := loadOpenAPI(t, referenceDir(t))
	example := dig(api.doc, "paths", "/tags", "post", "responses", "422", "content", "application/vnd.api+json", "examples", "NameAlreadyTaken", "value", "errors")
	errs, _ := example.([]any)
	if len(errs) == 0 {
		t.Fatal("the document has no NameAlreadyTaken example for POST /tags")
	}
	want := errs[0].(map[string]any)
	f, base := serveFake(t, fake.Options{})
	for _, c := range []struct{ path, body string }{
		{"/tags", `{"data":{"type":"tags","attributes":{"name":"dup"}}}`},
		{"/projects", `{"data":{"type":"projects","attributes":{"name":"dup","provisioning_type":"on_demand"}}}`},
	} {
		var got map[string]any
		for range 2 {
			_, got = callFake(t, f, base, http.MethodPost, c.path, c.body)
		}
		ge, _ := got["errors"].([]any)
		if len(ge) == 0 {
			t.Fatalf("%s: second create answered %v", c.path, got)
		}
		first := ge[0].(map[string]any)
		for _, k := range []string{"code", "detail"} {
			if first[k] != want[k] {
				t.Errorf("%s: %s %v, the document's example %v", c.path, k, first[k], want[k])
			}
		}
		if dig(first, "source", "pointer") != dig(want, "source", "pointer") {
			t.Errorf("%s: pointer %v, the document's %v", c.path, dig(first, "source", "pointer"), dig(want, "source", "pointer"))
		}
	}
}

// TestVLANLeftUntaggedIsAdopted: a run stopped between a VLAN's create and
// its tag left a VLAN the cluster's tag does not find. The next create
// adopts and tags it instead of making a second one, which nothing would
// ever delete.
func TestVLANLeftUntaggedIsAdopted(t *testing.T) {
	f, base := serveFake(t, fake.Options{})
	p := providerOn(t, f, base, Config{ReadsPerMinute: -1, WritesPerMinute: -1, Clock: clock.NewScaled(100)})
	ctx := context.Background()
	proj, err := p.project(ctx, "", "stop", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.tag(ctx, "stop", true); err != nil {
		t.Fatal(err)
	}
	left, err := p.api.CreateVirtualNetwork(ctx, proj, "DAL", "cto cluster stop")
	if err != nil {
		t.Fatal(err)
	}
	if nets, err := p.ListNetworks(ctx, "stop"); err != nil || len(nets) != 0 {
		t.Fatalf("the cluster's tag finds %v (%v); want the untagged VLAN not found by it", nets, err)
	}
	n, err := p.CreateNetwork(ctx, provider.NetworkSpec{Cluster: "stop", Region: "DAL"})
	if err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if n.ID != left.ID || len(st.Networks) != 1 {
		t.Fatalf("created %s; the double holds %d VLANs; want the one left (%s) adopted", n.ID, len(st.Networks), left.ID)
	}
	if tags := st.Networks[0].Tags; len(tags) != 1 || tags[0] != "stop" {
		t.Errorf("the adopted VLAN carries tags %v, want the cluster's", tags)
	}
}
