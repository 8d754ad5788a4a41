package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// A deploy that fails after creating servers says exactly what is still
// billing, by ID, and the command that removes it; that command leaves the
// provider empty.
func TestFailedDeployTellsWhatIsStillBilling(t *testing.T) {
	f, factory := latitudeEnv(t)
	f.SetFaults(func(x *fake.Faults) { x.StuckAssignmentNext = 1 })
	dir := t.TempDir()
	code, stdout, stderr := run(t, "deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "bill", "--nodes", "2",
		"--region", "DAL", "--plan", "c2-small-x86", "--until", "network", "--yes", "--state-dir", dir)
	if code != ExitFailure {
		t.Fatalf("deploy with a stuck VLAN assignment: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	st := f.State()
	if len(st.Servers) != 2 || len(st.Networks) != 1 {
		t.Fatalf("fake holds %d servers and %d networks, want 2 and 1", len(st.Servers), len(st.Networks))
	}
	want := []string{"Still billing at latitude: 2 servers and 1 private network", "cto destroy --name bill --state-dir " + dir, st.Networks[0].ID}
	for _, s := range st.Servers {
		want = append(want, s.ID, s.Hostname)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not name %q:\n%s", w, stderr)
		}
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "ERROR: ") || !strings.Contains(last, "still billing at latitude") || !strings.Contains(last, st.Servers[0].ID) {
		t.Errorf("the error line does not carry the billing summary: %s", last)
	}

	// The same failure for scripts: one still_billing event on stdout.
	code, stdout, _ = run(t, "deploy", "--name", "bill", "--yes", "--state-dir", dir, "-o", "json")
	if code != ExitFailure {
		t.Fatalf("rerun with the assignment still stuck: exit %d", code)
	}
	var event struct {
		Event     string
		Destroy   string
		Resources []billed
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, `"still_billing"`) {
			if err := json.Unmarshal([]byte(line), &event); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(event.Resources) != 3 || !strings.HasPrefix(event.Destroy, "cto destroy --name bill") {
		t.Fatalf("still_billing event = %+v\nstdout:\n%s", event, stdout)
	}

	args := strings.Fields(strings.TrimPrefix(event.Destroy, "cto "))
	if code, out, errOut := run(t, append(args, "--yes")...); code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", event.Destroy, code, out, errOut)
	}
	if st := f.State(); len(st.Servers) != 0 || len(st.Networks) != 0 {
		t.Fatalf("after the printed destroy command: %d servers, %d networks", len(st.Servers), len(st.Networks))
	}
}

// A token revoked in the middle of a deploy stops it with the provider's
// refusal, keeps the journal, and says what is billing; the same command
// with a working token finishes without ordering anything twice.
func TestTokenRevokedMidDeploy(t *testing.T) {
	f, factory := latitudeEnv(t)
	dir := t.TempDir()
	f.SetFaults(func(x *fake.Faults) { x.RevokeAfterServers = 1 })
	args := []string{"deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "rev", "--nodes", "3",
		"--region", "DAL", "--plan", "c2-small-x86", "--until", "network", "--yes", "--state-dir", dir}
	code, stdout, stderr := run(t, args...)
	if code != ExitFailure {
		t.Fatalf("deploy with the token revoked: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	for _, w := range []string{"401", "refused the credentials", "journal is kept", "still billing at latitude", "cto destroy --name rev"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, stderr)
		}
	}
	if strings.Contains(stdout+stderr, f.Token()) {
		t.Error("the token appears in the output")
	}
	created := len(f.State().Servers)
	j := loadJournal(t, dir, "rev")
	if got := len(j.LiveResources("server")); got != created {
		t.Errorf("journal holds %d live servers, the fake %d", got, created)
	}

	revoked := false
	f.SetFaults(func(x *fake.Faults) { revoked, x.Revoked, x.RevokeAfterServers = x.Revoked, false, 0 })
	if !revoked {
		t.Fatal("the token was never revoked")
	}
	if code, out, errOut := run(t, args...); code != 0 {
		t.Fatalf("rerun with a working token: exit %d\n%s%s", code, out, errOut)
	}
	hosts := map[string]bool{}
	for _, s := range f.State().Servers {
		hosts[s.Hostname] = true
	}
	if len(hosts) != 3 || len(f.State().Servers) != 3 {
		t.Errorf("after the rerun the fake holds %d servers on %d hostnames, want 3 on 3", len(f.State().Servers), len(hosts))
	}
}
