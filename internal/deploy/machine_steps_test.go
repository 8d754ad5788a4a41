package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/deploy/deploytest"

	"github.com/cto-platform/cto/internal/destroy"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/latitude"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// machineRun is a run of the machine steps against the Latitude double on
// a fast clock.
func machineRun(t *testing.T, nodes int) (*pipeline.Run, *fake.Fake, *events.Recorder) {
	t.Helper()
	r, f, _ := deploytest.LatitudeRun(t, deploytest.Latitude{Nodes: nodes, Speed: 3000, Unpaced: true})
	rec := &events.Recorder{}
	r.Events = rec
	return r, f, rec
}

func runUntil(t *testing.T, r *pipeline.Run, until string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return (&pipeline.Engine{Steps: Steps()}).Execute(ctx, r, pipeline.Options{Until: until})
}

func warnings(rec *events.Recorder) string {
	var b strings.Builder
	for _, e := range rec.Snapshot() {
		if e.Type == events.Warning {
			b.WriteString(e.Message + "\n")
		}
	}
	return b.String()
}

func TestServersReplaceAStuckDeploy(t *testing.T) {
	r, f, rec := machineRun(t, 2)
	f.SetFaults(func(x *fake.Faults) { x.StuckHostnames = map[string]int{"t-worker1": 1} })
	if err := runUntil(t, r, StepServers); err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if len(st.Servers) != 2 {
		t.Fatalf("fake has %+v, want 2 servers", st.Servers)
	}
	for _, n := range r.Journal.NodesCopy() {
		if n.Status != string(provider.StatusReady) {
			t.Errorf("%s: %s", n.Name, n.Status)
		}
		if (n.Name == "t-worker1") != (len(n.Replaced) == 1) {
			t.Errorf("%s: Replaced = %v", n.Name, n.Replaced)
		}
	}
	for _, s := range st.Servers {
		if s.IPXE != PlaceholderBootURL {
			t.Errorf("%s boots %q without boot media wired, want the placeholder", s.Hostname, s.IPXE)
		}
	}
	if !strings.Contains(warnings(rec), "placeholder") {
		t.Errorf("no warning about the placeholder boot media:\n%s", warnings(rec))
	}
	if !strings.Contains(warnings(rec), "t-worker1") || !strings.Contains(warnings(rec), "still deploying") {
		t.Errorf("the user was not told about the stuck server:\n%s", warnings(rec))
	}
}

func TestServersGiveUpAfterTwoReplacements(t *testing.T) {
	r, f, _ := machineRun(t, 1)
	f.SetFaults(func(x *fake.Faults) { x.FailHostnames = map[string]int{"t-cp1": 3} })
	err := runUntil(t, r, StepServers)
	if err == nil || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("err = %v, want giving up", err)
	}
	n := r.Journal.NodesCopy()[0]
	if len(n.Replaced) != MaxReplacements || n.ServerID == "" {
		t.Errorf("node = %+v", n)
	}
	if st := f.State(); len(st.Servers) != 1 || st.Servers[0].ID != n.ServerID {
		t.Errorf("replaced servers were not deleted: %+v", st.Servers)
	}
}

func TestServersRerunAdoptsAndDeletesWhatNobodyAskedFor(t *testing.T) {
	r, f, rec := machineRun(t, 2)
	if err := runUntil(t, r, StepServers); err != nil {
		t.Fatal(err)
	}
	before := f.State().Servers
	// A stray server carrying the cluster's tag, and a journal that lost a node's ID.
	stray, err := provider.Create(context.Background(), r.Deps.Provider, provider.ServerSpec{Cluster: "t", Hostname: "t-worker9",
		Plan: "c2-small-x86", Region: "DAL", Boot: provider.Boot{Method: provider.BootIPXE, URL: PlaceholderBootURL}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Journal.Update(func(j *state.Journal) { j.NodeLocked("t-worker1").ServerID = "" })
	if err := (serversStep{}).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	after := f.State().Servers
	if len(after) != 2 || after[0].ID != before[0].ID || after[1].ID != before[1].ID {
		t.Fatalf("servers before %+v, after %+v: want the same two", before, after)
	}
	if n := r.Journal.NodesCopy()[1]; n.ServerID != before[1].ID {
		t.Errorf("t-worker1 was not adopted: %+v", n)
	}
	if !strings.Contains(warnings(rec), stray.ID) {
		t.Errorf("the stray server's deletion was not said:\n%s", warnings(rec))
	}
}

// A run stopped between a server's order and its tag (Latitude tags in a
// call of its own) leaves a journaled server without the cluster's tag;
// the rerun tags it, so a sweep by tag still finds it without the journal.
func TestServersRerunTagsAJournaledServerTheTagMissed(t *testing.T) {
	r, f, rec := machineRun(t, 2)
	if err := runUntil(t, r, StepServers); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	untagged := r.Journal.NodesCopy()[1]
	if _, err := r.Deps.Provider.(*latitude.Provider).Client().TagServer(ctx, untagged.ServerID, []string{}); err != nil {
		t.Fatal(err)
	}
	if err := (serversStep{}).Run(ctx, r); err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if len(st.Servers) != 2 {
		t.Fatalf("servers after the rerun: %+v, want the same two", st.Servers)
	}
	for _, s := range st.Servers {
		if !slices.Contains(s.Tags, "t") {
			t.Errorf("server %s (%s) has tags %v after the rerun, want the cluster's", s.ID, s.Hostname, s.Tags)
		}
	}
	if !strings.Contains(warnings(rec), untagged.ServerID) {
		t.Errorf("the rerun did not say it tagged %s:\n%s", untagged.ServerID, warnings(rec))
	}
}

func TestValidateRefusesWithoutApproval(t *testing.T) {
	r, f, _ := machineRun(t, 1)
	r.Deps.Yes = false
	err := runUntil(t, r, StepNetwork)
	if err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("err = %v, want a refusal naming --yes", err)
	}
	if n := f.State().Count("POST"); n != 0 {
		t.Errorf("%d POSTs before approval", n)
	}
}

func TestDryRunCreatesNothing(t *testing.T) {
	r, f, rec := machineRun(t, 3)
	ctx := context.Background()
	if err := (&pipeline.Engine{Steps: Steps()}).Execute(ctx, r, pipeline.Options{DryRun: true, Until: StepNetwork}); err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if st.Count("POST")+st.Count("PATCH")+st.Count("DELETE") != 0 {
		t.Errorf("dry run wrote: %v", st.Requests)
	}
	var said []string
	for _, e := range rec.Snapshot() {
		said = append(said, e.Message)
	}
	if !strings.Contains(strings.Join(said, "\n"), "would create t-worker2") {
		t.Errorf("dry run did not say what it would create: %v", said)
	}
}

func TestPollIntervalAdapts(t *testing.T) {
	exp := 10 * time.Minute
	if got := pollInterval(0, exp); got != 30*time.Second {
		t.Errorf("fresh deploy: %s", got)
	}
	if got := pollInterval(9*time.Minute+50*time.Second, exp); got != 5*time.Second {
		t.Errorf("about to finish: %s", got)
	}
	if got := pollInterval(8*time.Minute, exp); got != 30*time.Second {
		t.Errorf("two minutes left: %s", got)
	}
	if got := pollInterval(20*time.Minute, exp); got != 10*time.Second {
		t.Errorf("overdue: %s", got)
	}
}

func TestPrivateAddresses(t *testing.T) {
	ips, err := privateAddresses("", 3)
	if err != nil || ips[0].String() != "10.8.0.1" || ips[2].String() != "10.8.0.3" {
		t.Errorf("default range: %v %v", ips, err)
	}
	if _, err := privateAddresses("192.168.5.0/29", 6); err != nil {
		t.Errorf("/29 holds 6 hosts: %v", err)
	}
	if _, err := privateAddresses("192.168.5.0/29", 7); err == nil {
		t.Error("/29 cannot hold 7 hosts")
	}
}

func TestDestroyFindsAServerTheTagAndJournalLost(t *testing.T) {
	r, f, _ := machineRun(t, 2)
	if err := runUntil(t, r, StepNetwork); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lp := r.Deps.Provider.(*latitude.Provider)
	lost := r.Journal.NodesCopy()[0]
	// The tag never stuck and the journal never heard of the ID.
	if _, err := lp.Client().TagServer(ctx, lost.ServerID, []string{}); err != nil {
		t.Fatal(err)
	}
	r.Journal.Update(func(j *state.Journal) {
		j.NodeLocked(lost.Name).ServerID = ""
		j.Resources = nil
	})
	plan, err := destroy.Find(ctx, lp, "t", r.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Servers) != 2 || len(plan.Networks) != 1 {
		t.Fatalf("plan = %+v, want both servers and the network", plan)
	}
	if err := destroy.Execute(ctx, lp, r.Journal, plan, 4, nil); err != nil {
		t.Fatal(err)
	}
	if st := f.State(); len(st.Servers)+len(st.Networks)+len(st.Assignments) != 0 {
		t.Errorf("left behind: %+v", st)
	}
	again, err := destroy.Find(ctx, lp, "t", r.Journal)
	if err != nil || !again.Empty() {
		t.Errorf("a second destroy plan = %+v, %v; want empty", again, err)
	}
}

func TestInterruptedDestroyResumes(t *testing.T) {
	r, f, _ := machineRun(t, 2)
	if err := runUntil(t, r, StepServers); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plan, err := destroy.Find(ctx, r.Deps.Provider, "t", r.Journal)
	if err != nil || len(plan.Servers) != 2 {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	// Enough server errors to exhaust the retries of the first deletion.
	f.SetFaults(func(x *fake.Faults) { x.ServerErrorBurst = 6 })
	err = destroy.Execute(ctx, r.Deps.Provider, r.Journal, plan, 1, nil)
	if err == nil || !strings.Contains(err.Error(), "cto destroy") {
		t.Fatalf("err = %v, want a failure that says to run destroy again", err)
	}
	if n := len(f.State().Servers); n != 1 {
		t.Fatalf("%d servers after the interrupted destroy, want 1", n)
	}
	again, err := destroy.Find(ctx, r.Deps.Provider, "t", r.Journal)
	if err != nil || len(again.Servers) != 1 {
		t.Fatalf("resumed plan %+v, %v; want the one server left", again, err)
	}
	if err := destroy.Execute(ctx, r.Deps.Provider, r.Journal, again, 1, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(f.State().Servers); n != 0 {
		t.Errorf("%d servers left", n)
	}
}

// serversBy maps each server the double holds, by hostname, to one of its
// fields.
func serversBy(f *fake.Fake, field func(fake.ServerState) string) map[string]string {
	out := map[string]string{}
	for _, s := range f.State().Servers {
		out[s.Hostname] = field(s)
	}
	return out
}

func TestWorkersUseTheWorkerPlan(t *testing.T) {
	r, f, _ := machineRun(t, 3)
	r.Deps.Spec.WorkerPlan = "c3-small-x86"
	if err := runUntil(t, r, StepServers); err != nil {
		t.Fatal(err)
	}
	plans := serversBy(f, func(s fake.ServerState) string { return s.Plan })
	if want := map[string]string{"t-cp1": "c2-small-x86", "t-worker1": "c3-small-x86", "t-worker2": "c3-small-x86"}; !maps.Equal(plans, want) {
		t.Errorf("plans by server %v, want %v", plans, want)
	}
	if got := r.Journal.FactsCopy().CostMonthly; got != "716.00" {
		t.Errorf("monthly cost = %s, want 146 + 2 x 285 = 716.00", got)
	}
}

func TestBootMediaPerNodeClass(t *testing.T) {
	r, f, rec := machineRun(t, 2)
	r.Deps.Spec.GPU, r.Deps.Spec.WorkerPlan = true, "g3-h100-small"
	var asked []bool
	r.Deps.BootMedia = func(ctx context.Context, r *pipeline.Run, gpu bool) (provider.Boot, error) {
		asked = append(asked, gpu)
		return provider.Boot{Method: provider.BootIPXE, URL: fmt.Sprintf("http://pxe.test/gpu-%v", gpu)}, nil
	}
	if err := runUntil(t, r, StepServers); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 {
		t.Errorf("BootMedia asked %v, want once per class", asked)
	}
	boots := serversBy(f, func(s fake.ServerState) string { return s.IPXE })
	if want := map[string]string{"t-cp1": "http://pxe.test/gpu-false", "t-worker1": "http://pxe.test/gpu-true"}; !maps.Equal(boots, want) {
		t.Errorf("boot media by server %v, want %v", boots, want)
	}
	if strings.Contains(warnings(rec), "placeholder") {
		t.Errorf("warned about the placeholder with media wired")
	}
}

// A plan that refuses iPXE at order time is ordered with a stock system
// and reinstalled with iPXE once up; the step waits for that second deploy
// and replaces nothing.
func TestServersReinstallWhenThePlanRefusesIPXE(t *testing.T) {
	r, f, rec := machineRun(t, 3)
	r.Deps.Spec.Plan = "c3-small-x86" // lists ipxe, refuses it at create
	if err := runUntil(t, r, StepServers); err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if len(st.Servers) != 3 {
		t.Fatalf("fake holds %d servers, want 3", len(st.Servers))
	}
	for _, s := range st.Servers {
		if s.Status != "on" || s.IPXE == "" {
			t.Errorf("%s: status %s, ipxe %q; want on with the boot media", s.Hostname, s.Status, s.IPXE)
		}
	}
	if got := st.Requests["POST /servers/{id}/reinstall"]; got != 3 {
		t.Errorf("%d reinstalls, want 3", got)
	}
	if w := warnings(rec); strings.Contains(w, "replacement") {
		t.Errorf("servers were replaced:\n%s", w)
	}
	lp := r.Deps.Provider.(provider.BootPathLearner)
	if got := lp.BootPaths()["c3-small-x86"]; got != provider.BootPathReinstall {
		t.Errorf("learned path %q for c3-small-x86, want reinstall", got)
	}
	for _, n := range r.Journal.NodesCopy() {
		if n.Status != string(provider.StatusReady) {
			t.Errorf("%s: journal status %s", n.Name, n.Status)
		}
	}
}

// Right after a reinstall the API can still read "on": the server counts
// as up only after its status has moved once.
func TestReinstalledServerWaitsOutTheStaleOn(t *testing.T) {
	sv := &servers{reinstalls: map[string]*reinstall{"sv_1": {}}}
	on := provider.Server{ID: "sv_1", Status: provider.StatusReady, RawStatus: "on"}
	if s, again := sv.booting(on); s.Status != provider.StatusPending || again {
		t.Fatalf("stale on read as %s (reinstall again %v)", s.Status, again)
	}
	if s, _ := sv.booting(provider.Server{ID: "sv_1", Status: provider.StatusPending, RawStatus: "disk_erasing"}); s.Status != provider.StatusPending {
		t.Fatalf("disk_erasing read as %s", s.Status)
	}
	if s, _ := sv.booting(on); s.Status != provider.StatusReady {
		t.Fatalf("on after the reinstall read as %s", s.Status)
	}
	stock := provider.Server{ID: "sv_2", Status: provider.StatusReady, RawStatus: "on", NeedsBoot: true}
	if s, again := sv.booting(stock); s.Status != provider.StatusPending || !again {
		t.Fatalf("a server up on a stock system read as %s (reinstall %v)", s.Status, again)
	}
}

// TestValidateChecksTheImageFactory: a Talos version the factory does not
// build, or an extension it lacks for that version, is refused as bad
// input before anything is ordered.
func TestValidateChecksTheImageFactory(t *testing.T) {
	for _, c := range []struct {
		name    string
		version string
		remove  string
		profile string
		want    []string
	}{
		{name: "unknown version", version: "v1.99.0", profile: "minimal",
			want: []string{`talos.version "v1.99.0" is not offered`, talos.DefaultTalosVersion, "--talos-version"}},
		{name: "extension missing", profile: "production", remove: "siderolabs/iscsi-tools",
			want: []string{"has no siderolabs/iscsi-tools extension", "--talos-version"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, f, _ := machineRun(t, 3)
			factory := talosfake.NewFactory()
			if c.remove != "" {
				factory.RemoveExtension(c.remove)
			}
			srv := httptest.NewServer(factory)
			t.Cleanup(srv.Close)
			r.Deps.Spec.Talos.ImageFactoryURL = srv.URL
			r.Deps.Spec.Talos.Version = c.version
			r.Deps.Spec.Profile = c.profile
			err := runUntil(t, r, StepServers)
			var se *spec.Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a bad-input error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to say %q", err, w)
				}
			}
			if st := f.State(); len(st.Servers) != 0 || st.Requests["POST /servers"] != 0 {
				t.Errorf("servers were ordered: %d", len(st.Servers))
			}
		})
	}
}
