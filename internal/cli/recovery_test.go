package cli

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// deployServers creates a cluster's servers at the Latitude double and
// stops there, leaving them billing.
func deployServers(t *testing.T, factory, dir, name string) {
	t.Helper()
	code, stdout, stderr := run(t, "deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", name, "--nodes", "1",
		"--region", "DAL", "--plan", "c2-small-x86", "--until", "servers", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("deploy --until servers: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// The journal moved away: destroy must not guess the local provider (which
// leaves the servers billing) but say how to sweep by tag and where
// credentials are set; the sweep then deletes everything.
func TestDestroyWithoutJournalNamesTheSweep(t *testing.T) {
	f, factory := latitudeEnv(t)
	dir := t.TempDir()
	deployServers(t, factory, dir, "c2")
	if n := len(f.State().Servers); n != 1 {
		t.Fatalf("the double holds %d servers, want 1", n)
	}
	journal := journalPath(dir, "c2")
	if err := os.Rename(journal, journal+".moved"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "destroy", "--name", "c2", "--yes", "--state-dir", dir)
	if code != ExitBadInput || !strings.Contains(stderr, "cto destroy --name c2 --state-dir "+dir+" --provider <p>") ||
		!strings.Contains(stderr, "credentials are set for latitude") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("destroy without a journal: exit %d, want 2 with one line naming the sweep and latitude\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if n := len(f.State().Servers); n != 1 {
		t.Fatalf("the refused destroy changed the servers: %d", n)
	}
	code, stdout, stderr = run(t, "destroy", "--name", "c2", "--provider", "latitude", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("the sweep: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if n := len(f.State().Servers); n != 0 {
		t.Errorf("the sweep left %d servers", n)
	}
}

// With no credentials at all the advice names the variables to set.
func TestDestroyWithoutJournalOrCredentials(t *testing.T) {
	for _, v := range []string{"LATITUDESH_AUTH_TOKEN", "LATITUDE_API_KEY", "HCLOUD_TOKEN", "HETZNER_ROBOT_USER", "HETZNER_ROBOT_PASSWORD", "VULTR_API_KEY"} {
		t.Setenv(v, "")
	}
	t.Setenv("HCLOUD_TOKEN", "x")
	code, _, stderr := run(t, "destroy", "--name", "gone", "--state-dir", t.TempDir())
	if code != ExitBadInput || !strings.Contains(stderr, "--provider <p>") || !strings.Contains(stderr, "credentials are set for hetzner") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	t.Setenv("HCLOUD_TOKEN", "")
	code, _, stderr = run(t, "destroy", "--name", "gone", "--state-dir", t.TempDir())
	if code != ExitBadInput || !strings.Contains(stderr, "no provider's credentials are set") || !strings.Contains(stderr, "LATITUDESH_AUTH_TOKEN") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// A corrupt journal: the refusal names the sweep, and the sweep deletes
// everything without reading the journal, which it leaves as it is.
func TestDestroyWithCorruptJournalSweeps(t *testing.T) {
	f, factory := latitudeEnv(t)
	dir := t.TempDir()
	deployServers(t, factory, dir, "c2")
	journal := journalPath(dir, "c2")
	broken := []byte(`{"schema_version": 1, "clus`)
	if err := os.WriteFile(journal, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "destroy", "--name", "c2", "--yes", "--state-dir", dir)
	if code == 0 || !strings.Contains(stderr, "state file is corrupt") || !strings.Contains(stderr, "--provider <p>") ||
		!strings.Contains(stderr, "credentials are set for latitude") {
		t.Fatalf("destroy with a corrupt journal: exit %d, want a refusal naming the sweep\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "destroy", "--name", "c2", "--provider", "latitude", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("the sweep with a corrupt journal: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if n := len(f.State().Servers); n != 0 {
		t.Errorf("the sweep left %d servers", n)
	}
	if now, _ := os.ReadFile(journal); !bytes.Equal(now, broken) {
		t.Errorf("the sweep changed the corrupt journal: %q", now)
	}
}

// A dry run pins nothing: a second dry run with other values, and then a
// deploy with yet others, are not refused as "deployed with different
// values", and the journal holds no spec after the dry runs.
func TestDryRunPinsNothing(t *testing.T) {
	_, factory := latitudeEnv(t)
	dir := t.TempDir()
	base := []string{"deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "dry", "--region", "DAL",
		"--plan", "c2-small-x86", "--state-dir", dir}
	for _, nodes := range []string{"1", "3"} {
		code, stdout, stderr := run(t, append(append([]string{}, base...), "--nodes", nodes, "--dry-run")...)
		if code != 0 {
			t.Fatalf("dry run with --nodes %s: exit %d\nstdout: %s\nstderr: %s", nodes, code, stdout, stderr)
		}
	}
	if data, err := os.ReadFile(journalPath(dir, "dry")); err == nil && strings.Contains(string(data), `"spec"`) {
		t.Errorf("the dry runs pinned a spec in the journal:\n%s", data)
	}
	code, stdout, stderr := run(t, append(append([]string{}, base...), "--nodes", "2", "--until", "validate", "--yes")...)
	if code != 0 {
		t.Fatalf("deploy after two dry runs: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// The error of an unreachable image factory advises --image-factory-url;
// following that advice (by the flag or by its variable) on the rerun
// resumes instead of being refused as "deployed with different values".
func TestImageFactoryAdviceWorksWhenFollowed(t *testing.T) {
	f, factory := latitudeEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	dir := t.TempDir()
	base := []string{"deploy", "--provider", "latitude", "--name", "fac", "--region", "DAL", "--plan", "c2-small-x86",
		"--until", "servers", "--yes", "--state-dir", dir}
	code, stdout, stderr := run(t, append(append([]string{}, base...), "--image-factory-url", deadURL)...)
	if code == 0 || !strings.Contains(stderr, "--image-factory-url") {
		t.Fatalf("deploy with an unreachable factory: exit %d, want a failure advising --image-factory-url\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// The advice, followed through the flag's variable.
	t.Setenv("CTO_IMAGE_FACTORY_URL", factory)
	code, stdout, stderr = run(t, base...)
	if code != 0 {
		t.Fatalf("rerun with CTO_IMAGE_FACTORY_URL set: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if n := len(f.State().Servers); n != 1 {
		t.Errorf("the double holds %d servers, want 1", n)
	}
	// And through the flag itself, on a later run.
	code, stdout, stderr = run(t, append(append([]string{}, base...), "--image-factory-url", factory)...)
	if code != 0 {
		t.Fatalf("rerun with --image-factory-url: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// state.json names the license by its ID and fingerprint, never the token;
// a resume without the license says which one to pass again, and resumes
// once it is given.
func TestJournalKeepsLicenseIDNotToken(t *testing.T) {
	_, factory := latitudeEnv(t)
	token := os.Getenv("CTO_LICENSE")
	dir := t.TempDir()
	code, stdout, stderr := run(t, "deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "lic", "--region", "DAL",
		"--plan", "c2-small-x86", "--until", "validate", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("deploy: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	data, err := os.ReadFile(journalPath(dir, "lic"))
	if err != nil {
		t.Fatal(err)
	}
	// Any long piece of the token (its signature, its payload) counts.
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 16 && strings.Contains(string(data), part) {
			t.Fatalf("state.json holds part of the license token %q:\n%s", part, data)
		}
	}
	j := loadJournal(t, dir, "lic")
	if j.FactsCopy().LicenseID != "L-lat" || !strings.HasPrefix(j.FactsCopy().LicenseFingerprint, "sha256:") {
		t.Errorf("the journal does not name the license: id %q, fingerprint %q", j.FactsCopy().LicenseID, j.FactsCopy().LicenseFingerprint)
	}
	t.Setenv("CTO_LICENSE", "")
	code, _, stderr = run(t, "deploy", "--name", "lic", "--until", "validate", "--yes", "--state-dir", dir)
	if code != ExitBadInput || !strings.Contains(stderr, "L-lat") || !strings.Contains(stderr, "--license") {
		t.Fatalf("resume without the license: exit %d, want 2 naming license L-lat\n%s", code, stderr)
	}
	t.Setenv("CTO_LICENSE", token)
	code, _, stderr = run(t, "deploy", "--name", "lic", "--until", "validate", "--yes", "--state-dir", dir)
	if code != 0 {
		t.Fatalf("resume with the license given again: exit %d\n%s", code, stderr)
	}
}
