package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/license/licensetest"
	"github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// speed is how much faster than the wall clock both cto and the fake run in
// these tests: a 10-minute deploy takes a second.
const speed = 600

// latitudeEnv starts the API double and a Talos image factory on loopback,
// points cto at the API, and returns the factory's URL for
// --image-factory-url.
func latitudeEnv(t *testing.T) (*fake.Fake, string) {
	t.Helper()
	f := fake.New(fake.Options{Clock: clock.NewScaled(speed), Seed: 7})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("LATITUDESH_AUTH_TOKEN", f.Token())
	t.Setenv("LATITUDE_API_KEY", "")
	t.Setenv("LATITUDESH_API_URL", srv.URL)
	t.Setenv("LATITUDESH_PROJECT", "")
	t.Setenv("LATITUDE_PROJECT_ID", "")
	t.Setenv(SpeedEnv, "600")
	t.Setenv("CTO_LICENSE", licensetest.Valid(t, "L-lat", license.Enterprise))
	factory := httptest.NewServer(talosfake.NewFactory())
	t.Cleanup(factory.Close)
	return f, factory.URL
}

func loadJournal(t *testing.T, dir, name string) *state.Journal {
	t.Helper()
	j, err := readJournal(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// clusterDir is cluster name's folder under the state folder dir.
func clusterDir(dir, name string) string { return filepath.Join(dir, "clusters", name) }

// journalPath is cluster name's journal under the state folder dir.
func journalPath(dir, name string) string { return filepath.Join(clusterDir(dir, name), "state.json") }

// wantNoClusterFolder fails the test when cluster name has a folder under
// the state folder dir; when says after what it should have none.
func wantNoClusterFolder(t *testing.T, dir, name, when string) {
	t.Helper()
	if _, err := os.Stat(clusterDir(dir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s the state folder %s is still there (%v)", when, clusterDir(dir, name), err)
	}
}

func TestLatitudeDeployUntilNetworkThenDestroy(t *testing.T) {
	f, factory := latitudeEnv(t)
	f.SetFaults(func(x *fake.Faults) {
		x.RateLimitRate = 0.1
		x.ServerErrorBurst = 3
		x.FailHostnames = map[string]int{"e2e-worker1": 1}
		x.OffSpecStatus = true
		x.LoseCreateAnswers = 1
	})
	dir := t.TempDir()
	code, stdout, stderr := run(t, "deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "e2e", "--nodes", "3", "--region", "DAL",
		"--plan", "c2-small-x86", "--until", "network", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("deploy exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	st := f.State()
	if len(st.Servers) != 3 {
		t.Fatalf("fake has %d servers, want 3: %+v", len(st.Servers), st.Servers)
	}
	for _, s := range st.Servers {
		if s.Status != "on" || !slices.Contains(s.Tags, "e2e") || !strings.HasPrefix(s.IPXE, factory+"/pxe/") {
			t.Errorf("server %+v: want on, tagged e2e, booting Talos from the image factory %s", s, factory)
		}
	}
	if len(st.Networks) != 1 || len(st.Assignments) != 3 {
		t.Fatalf("fake has %d networks and %d assignments, want 1 and 3", len(st.Networks), len(st.Assignments))
	}
	for _, a := range st.Assignments {
		if a.Status != "connected" || a.NetworkID != st.Networks[0].ID {
			t.Errorf("assignment %+v: want connected to %s", a, st.Networks[0].ID)
		}
	}
	if st.RateLimited == 0 || st.ServerErrors != 3 {
		t.Errorf("faults not exercised: %d 429s, %d 5xx", st.RateLimited, st.ServerErrors)
	}
	if !strings.Contains(stderr, "replacement") {
		t.Errorf("stderr does not warn about the replacement:\n%s", stderr)
	}
	// The run left its whole log, private, beside the journal.
	logs, _ := filepath.Glob(filepath.Join(clusterDir(dir, "e2e"), RunLogDir, "deploy-*.log"))
	if len(logs) != 1 {
		t.Fatalf("run logs %v, want one", logs)
	}
	runLog, _ := os.ReadFile(logs[0])
	if fi, err := os.Stat(logs[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("run log %s: %v, mode %v; want 0600", logs[0], err, fi.Mode().Perm())
	}
	for _, line := range strings.Split(stderr, "\n") {
		if len(line) > 9 && line[2] == ':' && line[9] == '[' && !strings.Contains(string(runLog), line) {
			t.Errorf("the progress showed %q; the run log does not hold it:\n%s", line, runLog)
		}
	}
	if !strings.Contains(string(runLog), "[network] done in") {
		t.Errorf("the run log does not end with the network step:\n%s", runLog)
	}

	j := loadJournal(t, dir, "e2e")
	var ids []string
	for _, s := range st.Servers {
		ids = append(ids, s.ID)
	}
	wantIPs := map[string]string{"e2e-cp1": "10.8.0.1", "e2e-worker1": "10.8.0.2", "e2e-worker2": "10.8.0.3"}
	for _, n := range j.NodesCopy() {
		if !slices.Contains(ids, n.ServerID) {
			t.Errorf("node %s: server %q is not one of the fake's %v", n.Name, n.ServerID, ids)
		}
		if n.PublicIP == "" || n.Status != "ready" || n.PrivateIP != wantIPs[n.Name] {
			t.Errorf("node %+v: want ready with a public IP and private IP %s", n, wantIPs[n.Name])
		}
		if n.Name == "e2e-worker1" && len(n.Replaced) != 1 {
			t.Errorf("node %s: Replaced = %v, want the failed server", n.Name, n.Replaced)
		}
	}
	nets := j.LiveResources(state.KindNetwork)
	if len(nets) != 1 || nets[0].ID != st.Networks[0].ID || nets[0].Attrs["vlan"] == "" {
		t.Errorf("journal networks = %+v", nets)
	}
	if got := len(j.LiveResources(state.KindAssignment)); got != 3 {
		t.Errorf("journal has %d assignments, want 3", got)
	}
	if f := j.FactsCopy(); f.CostMonthly != "438.00" || f.Currency != "USD" || f.Region != "DAL" {
		t.Errorf("facts = %+v", f)
	}

	code, stdout, stderr = run(t, "destroy", "--name", "e2e", "--dry-run", "--state-dir", dir)
	if code != 0 || !strings.Contains(stderr, "e2e-cp1") || len(f.State().Servers) != 3 {
		t.Fatalf("destroy --dry-run exit %d, servers left %d\n%s%s", code, len(f.State().Servers), stdout, stderr)
	}
	code, _, stderr = run(t, "destroy", "--name", "e2e", "--state-dir", dir)
	if code == 0 || !strings.Contains(stderr, "--yes") || len(f.State().Servers) != 3 {
		t.Fatalf("destroy without --yes and without a terminal: exit %d, stderr %s", code, stderr)
	}
	code, stdout, stderr = run(t, "destroy", "--name", "e2e", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("destroy exit %d\n%s%s", code, stdout, stderr)
	}
	st = f.State()
	if len(st.Servers) != 0 || len(st.Networks) != 0 || len(st.Assignments) != 0 {
		t.Fatalf("after destroy the fake still has %d servers, %d networks, %d assignments", len(st.Servers), len(st.Networks), len(st.Assignments))
	}
	wantNoClusterFolder(t, dir, "e2e", "after a complete destroy")
}

func TestLatitudeOutOfStockEverywhereCreatesNothing(t *testing.T) {
	f, factory := latitudeEnv(t)
	f.SetStock("c2-small-x86", "DAL", 0)
	f.SetStock("c2-small-x86", "MIA", 0)
	dir := t.TempDir()
	code, _, stderr := run(t, "deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "oos", "--nodes", "3", "--region", "DAL",
		"--fallback-regions", "MIA", "--plan", "c2-small-x86", "--until", "network", "--yes", "--state-dir", dir)
	if code == 0 {
		t.Fatalf("deploy succeeded out of stock")
	}
	if !strings.Contains(stderr, "DAL") || !strings.Contains(stderr, "MIA") || !strings.Contains(stderr, "out of stock") {
		t.Errorf("the error does not name the sites tried: %s", stderr)
	}
	st := f.State()
	for _, m := range []string{"POST", "PATCH", "DELETE"} {
		if n := st.Count(m); n != 0 {
			t.Errorf("%d %s requests were sent before the stock check failed: %v", n, m, st.Requests)
		}
	}
	wantNoClusterFolder(t, dir, "oos", "after a refused deploy")
}

func TestLatitudeFallbackRegionIsRecorded(t *testing.T) {
	f, factory := latitudeEnv(t)
	f.SetStock("c2-small-x86", "DAL", 0)
	dir := t.TempDir()
	code, _, stderr := run(t, "deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "fb", "--nodes", "1", "--region", "DAL",
		"--fallback-regions", "MIA", "--plan", "c2-small-x86", "--until", "servers", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("deploy exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "fallback region MIA") {
		t.Errorf("the fallback was not said: %s", stderr)
	}
	if got := loadJournal(t, dir, "fb").FactsCopy().Region; got != "MIA" {
		t.Errorf("journal region = %q, want MIA", got)
	}
	if st := f.State(); len(st.Servers) != 1 || st.Servers[0].Site != "MIA" {
		t.Errorf("servers = %+v, want one in MIA", st.Servers)
	}
}

func TestLatitudeBadInput(t *testing.T) {
	latitudeEnv(t)
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no plan without a terminal", []string{"deploy", "--provider", "latitude", "--region", "DAL", "--yes"}, "--plan is required"},
		{"unknown plan", []string{"deploy", "--provider", "latitude", "--region", "DAL", "--plan", "nope-x86", "--yes"}, "is not a plan"},
		{"plan without iPXE", []string{"deploy", "--provider", "latitude", "--region", "DAL", "--plan", "c3-medium-x86", "--yes"}, "cannot boot Talos"},
		{"over the cost cap", []string{"deploy", "--provider", "latitude", "--region", "DAL", "--plan", "c2-small-x86", "--nodes", "3", "--max-monthly-cost", "100", "--yes"}, "maxMonthlyCost"},
		{"Talos version the factory lacks", []string{"deploy", "--provider", "latitude", "--region", "DAL", "--plan", "c2-small-x86", "--talos-version", "v1.99.0", "--yes"}, `talos.version "v1.99.0" is not offered by the Image Factory`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, append(c.args, "--name", "bad", "--state-dir", dir)...)
			if code != ExitBadInput || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 mentioning %q", code, stderr, c.want)
			}
		})
	}
	t.Setenv("LATITUDESH_AUTH_TOKEN", "")
	code, _, stderr := run(t, "plans", "--provider", "latitude")
	if code != ExitBadInput || !strings.Contains(stderr, "LATITUDESH_AUTH_TOKEN") {
		t.Errorf("missing token: exit %d, %q", code, stderr)
	}
}

func TestLatitudePlansAndRegions(t *testing.T) {
	latitudeEnv(t)
	code, stdout, stderr := run(t, "plans", "--provider", "latitude", "--region", "dal", "--in-stock", "-o", "json")
	if code != 0 {
		t.Fatalf("plans exit %d: %s", code, stderr)
	}
	var plans []struct {
		Slug         string `json:"slug"`
		Cores        int    `json:"cores"`
		MemoryGB     int    `json:"memory_gb"`
		GPUCount     int    `json:"gpu_count"`
		TalosCapable bool   `json:"talos_capable"`
		Regions      []struct {
			Site    string  `json:"site"`
			InStock bool    `json:"in_stock"`
			Hourly  float64 `json:"hourly"`
			Monthly float64 `json:"monthly"`
		} `json:"regions"`
	}
	if err := json.Unmarshal([]byte(stdout), &plans); err != nil {
		t.Fatalf("plans -o json: %v\n%s", err, stdout)
	}
	var small, tiny bool
	for _, p := range plans {
		i := slices.IndexFunc(p.Regions, func(r struct {
			Site    string  `json:"site"`
			InStock bool    `json:"in_stock"`
			Hourly  float64 `json:"hourly"`
			Monthly float64 `json:"monthly"`
		}) bool {
			return r.Site == "DAL"
		})
		if i < 0 || !p.Regions[i].InStock {
			t.Errorf("plan %s listed as in stock at DAL but is not: %+v", p.Slug, p.Regions)
		}
		if p.Slug == "c2-small-x86" {
			small = p.TalosCapable && p.Cores == 4 && p.MemoryGB == 32 && p.Regions[i].Hourly == 0.21 && p.Regions[i].Monthly == 146
		}
		tiny = tiny || (p.Slug == "c3-medium-x86" && !p.TalosCapable)
	}
	if !small || !tiny {
		t.Errorf("plans: c2-small-x86 (talos, 4 cores, 32 GB, $0.21/h) found %v; c3-medium-x86 (no talos) found %v", small, tiny)
	}
	code, stdout, _ = run(t, "plans", "--provider", "latitude", "--gpu")
	if code != 0 || !strings.Contains(stdout, "g3-h100-small") || strings.Contains(stdout, "c2-small-x86") {
		t.Errorf("plans --gpu table:\n%s", stdout)
	}
	code, stdout, stderr = run(t, "regions", "--provider", "latitude", "-o", "json")
	if code != 0 {
		t.Fatalf("regions exit %d: %s", code, stderr)
	}
	var regions []struct{ Slug, Name, Country string }
	if err := json.Unmarshal([]byte(stdout), &regions); err != nil {
		t.Fatal(err)
	}
	// More than one page of 20: pagination must reach the end.
	if len(regions) != len(fake.Sites) {
		t.Fatalf("regions = %d, want every site (%d)", len(regions), len(fake.Sites))
	}
	for _, r := range regions {
		if r.Slug == "DAL" && (r.Name != "Dallas" || r.Country != "United States") {
			t.Errorf("DAL = %+v", r)
		}
	}
}

func TestPlanPickerOnATerminal(t *testing.T) {
	latitudeEnv(t)
	var errb bytes.Buffer
	g := &globals{streams: Streams{In: strings.NewReader("zero\n99\n3\n"), Out: &bytes.Buffer{}, ErrOut: &errb}}
	s := spec.Defaults()
	s.Name, s.Provider, s.Region = "pick", "latitude", "DAL"
	got, err := pickPlan(context.Background(), g, s, true, true)
	if err != nil {
		t.Fatal(err)
	}
	// Cheapest first: c1-tiny-x86, c2-small-x86, then c3-small-x86;
	// c3-medium-x86 (ipxe not provisionable) is not offered.
	if got.Plan != "c3-small-x86" {
		t.Errorf("picked %q, want the third cheapest Talos-capable plan in stock (c3-small-x86)\n%s", got.Plan, errb.String())
	}
	if strings.Contains(errb.String(), "c3-medium-x86") || !strings.Contains(errb.String(), "2) c2-small-x86") {
		t.Errorf("picker list:\n%s", errb.String())
	}
	if _, err := pickPlan(context.Background(), g, s, true, false); !IsBadInput(err) || !strings.Contains(err.Error(), "--plan") {
		t.Errorf("without a terminal: %v", err)
	}
}

func TestLatitudeDestroyWithoutJournalSweepsByTag(t *testing.T) {
	f, factory := latitudeEnv(t)
	dir := t.TempDir()
	code, _, stderr := run(t, "deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "lost", "--nodes", "2", "--region", "DAL",
		"--plan", "c2-small-x86", "--until", "network", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("deploy: %s", stderr)
	}
	os.RemoveAll(clusterDir(dir, "lost"))
	code, _, stderr = run(t, "destroy", "--name", "lost", "--yes", "--state-dir", dir)
	if code != ExitBadInput || !strings.Contains(stderr, "--provider") {
		t.Errorf("destroy without a journal or --provider: exit %d, %s", code, stderr)
	}
	code, _, stderr = run(t, "destroy", "--name", "lost", "--provider", "latitude", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("destroy --provider latitude: exit %d, %s", code, stderr)
	}
	if st := f.State(); len(st.Servers) != 0 || len(st.Networks) != 0 {
		t.Errorf("a lost journal left %d servers and %d networks", len(st.Servers), len(st.Networks))
	}
}
