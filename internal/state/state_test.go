package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenCreatesPrivateFolder(t *testing.T) {
	root := t.TempDir()
	c, err := Open(root, "demo", true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("state folder mode %v, want 0700", st.Mode().Perm())
	}
	if _, err := Open(root, "Not_A_Label", true); err == nil {
		t.Fatal("Open accepted a name that is not a DNS label")
	}
	if _, err := Open(root, "absent", false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(absent) = %v, want ErrNotExist", err)
	}
}

func TestJournalRoundTripAndModes(t *testing.T) {
	c, _ := Open(t.TempDir(), "demo", true)
	j, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(j); err != nil {
		t.Fatal(err)
	}
	if err := j.Update(func(j *Journal) {
		j.Nodes = append(j.Nodes, &Node{Name: "demo-cp1", Role: "controlplane", ServerID: "sv_1"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := j.AddResource(Resource{Kind: "network", ID: "vlan_1", Attrs: map[string]string{"vlan": "2001"}}); err != nil {
		t.Fatal(err)
	}
	if err := j.SetFacts(func(f *Facts) { f.Schematics = map[string]string{"c0ffee": "abc"}; f.Region = "DAL" }); err != nil {
		t.Fatal(err)
	}
	if err := j.MarkDeleted("network", "vlan_1"); err != nil {
		t.Fatal(err)
	}
	again, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if n := again.NodesCopy(); len(n) != 1 || n[0].ServerID != "sv_1" {
		t.Fatalf("nodes after reload: %+v", n)
	}
	if f := again.FactsCopy(); f.Schematics["c0ffee"] != "abc" || f.Region != "DAL" {
		t.Fatalf("facts lost: %+v", f)
	}
	if live := again.LiveResources("network"); len(live) != 0 {
		t.Fatalf("deleted network still live: %+v", live)
	}
	if st, _ := os.Stat(c.Path("state.json")); st.Mode().Perm() != 0o600 {
		t.Fatalf("state.json mode %v, want 0600", st.Mode().Perm())
	}
	if err := c.WriteSecret("secrets.yaml", []byte("s")); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(c.Path("secrets.yaml")); st.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v, want 0600", st.Mode().Perm())
	}
}

func TestCorruptJournalIsReportedAndKept(t *testing.T) {
	c, _ := Open(t.TempDir(), "demo", true)
	garbage := []byte(`{"schema_version": 1, "cluster": "demo", "steps": {`)
	if err := os.WriteFile(c.Path("state.json"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := c.Load()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load of a corrupt journal = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), c.Path("state.json")) {
		t.Fatalf("error does not name the file: %v", err)
	}
	after, _ := os.ReadFile(c.Path("state.json"))
	if !bytes.Equal(after, garbage) {
		t.Fatal("the corrupt journal was changed")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	c, _ := Open(t.TempDir(), "demo", true)
	os.WriteFile(c.Path("state.json"), []byte(`{"schema_version": 99, "cluster": "demo"}`), 0o600)
	if _, err := c.Load(); err == nil || !strings.Contains(err.Error(), "newer cto") {
		t.Fatalf("Load of a newer journal = %v", err)
	}
}

// BenchmarkJournalUpdate is one recorded change in the journal of a
// 500-node cluster (its servers and VLAN assignments): the whole file is
// encoded and written, then synced, per change.
func BenchmarkJournalUpdate(b *testing.B) {
	c, err := Open(b.TempDir(), "demo", true)
	if err != nil {
		b.Fatal(err)
	}
	j, err := c.Load()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 500 {
		j.Nodes = append(j.Nodes, &Node{Name: fmt.Sprintf("demo-worker%d", i+1), Role: "worker", Index: i + 1,
			ServerID: fmt.Sprintf("sv_%013d", i), Status: "on", PublicIP: fmt.Sprintf("198.51.%d.%d", i/250, i%250), PrivateIP: fmt.Sprintf("10.8.%d.%d", i/250, 10+i%250), Configured: true})
		j.Resources = append(j.Resources, &Resource{Kind: "vlan-assignment", ID: fmt.Sprintf("vasg_%013d", i), Attrs: map[string]string{"server": fmt.Sprintf("sv_%013d", i)}, CreatedAt: time.Now()})
	}
	if err := c.Save(j); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := j.Update(func(j *Journal) { j.Nodes[i%500].Status = fmt.Sprint(i) }); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(c.Path(journalFile))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/1024, "KiB/journal")
}

// A state directory that already exists with group and other access (made
// by hand, or by a umask of 022) is tightened to 0700 with every folder
// cto creates in it: it holds every cluster's secrets.
func TestOpenTightensAnExistingStateDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "cto-home")
	if err := os.MkdirAll(filepath.Join(root, "clusters"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	os.Chmod(filepath.Join(root, "clusters"), 0o755)
	c, err := Open(root, "demo", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{root, filepath.Join(root, "clusters"), c.Dir} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o700 {
			t.Errorf("%s is %o, want 700", d, mode)
		}
	}
}
