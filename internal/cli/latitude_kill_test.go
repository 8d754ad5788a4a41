package cli

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// TestLatitudeDeployKilledMidServersResumesWithoutDuplicates kills the cto
// process (SIGKILL) while it creates servers, then runs it again: the rerun
// ends with exactly the requested servers.
func TestLatitudeDeployKilledMidServersResumesWithoutDuplicates(t *testing.T) {
	bin := buildCTO(t)
	f, factory := latitudeEnv(t)
	// Slow answers widen the window between a create and its journal entry.
	f.SetFaults(func(x *fake.Faults) { x.Latency = 30 * time.Millisecond })
	dir := t.TempDir()
	args := []string{"deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "kill", "--nodes", "4", "--region", "DAL",
		"--plan", "c2-small-x86", "--until", "network", "--yes", "--state-dir", dir}

	first := exec.Command(bin, args...)
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(f.State().Servers) == 0 {
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatalf("no server was created within a minute:\n%s", firstErr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	killedWith := len(f.State().Servers)
	t.Logf("killed with %d server(s) at the fake", killedWith)
	if killedWith >= 4 && f.State().Count("POST /virtual_networks") > 0 {
		t.Fatalf("the kill came after the servers step")
	}

	second := exec.Command(bin, args...)
	out, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	st := f.State()
	var hosts []string
	for _, s := range st.Servers {
		hosts = append(hosts, s.Hostname)
		if s.Status != "on" {
			t.Errorf("server %s (%s) is %s", s.ID, s.Hostname, s.Status)
		}
	}
	slices.Sort(hosts)
	want := []string{"kill-cp1", "kill-worker1", "kill-worker2", "kill-worker3"}
	if !slices.Equal(hosts, want) {
		t.Fatalf("servers after the rerun: %v, want exactly %v\n%s", hosts, want, out)
	}
	j := loadJournal(t, dir, "kill")
	for _, n := range j.NodesCopy() {
		if !slices.ContainsFunc(st.Servers, func(s fake.ServerState) bool { return s.ID == n.ServerID && s.Hostname == n.Name }) {
			t.Errorf("journal node %s has server %q, which the fake does not have under that name", n.Name, n.ServerID)
		}
	}
	if len(st.Networks) != 1 || len(st.Assignments) != 4 {
		t.Errorf("networks %d, assignments %d; want 1 and 4", len(st.Networks), len(st.Assignments))
	}
}

// The kill lands between a create and its journal entry: the double has
// made the server and holds back its answer, so cto never heard the ID.
// The journal on disk does not name the server; the rerun finds it by
// hostname and adopts it instead of ordering a second one.
func TestKillBetweenCreateAndJournalEntryAdopts(t *testing.T) {
	bin := buildCTO(t)
	f, factory := latitudeEnv(t)
	dir := t.TempDir()
	args := []string{"deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", "held", "--nodes", "1", "--region", "DAL",
		"--plan", "c2-small-x86", "--until", "servers", "--yes", "--state-dir", dir}
	heldCh, release := f.HoldCreateAnswers(1)
	defer release()

	first := exec.Command(bin, args...)
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var held fake.Held
	select {
	case held = <-heldCh:
	case <-time.After(time.Minute):
		first.Process.Kill()
		t.Fatalf("no create reached the double within a minute:\n%s", firstErr.String())
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	// Inside the window: the server exists, the journal does not know it.
	if data, err := os.ReadFile(journalPath(dir, "held")); err != nil || bytes.Contains(data, []byte(held.ID)) {
		t.Fatalf("the kill did not land between the create and its journal entry (journal names %s: %v)", held.ID, err)
	}
	release()
	if st := f.State(); len(st.Servers) != 1 || st.Servers[0].ID != held.ID {
		t.Fatalf("the double holds %+v, want only the held server %s", st.Servers, held.ID)
	}

	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	st := f.State()
	if len(st.Servers) != 1 || st.Servers[0].ID != held.ID {
		t.Fatalf("after the rerun the double holds %+v, want the held server %s adopted and no other", st.Servers, held.ID)
	}
	j := loadJournal(t, dir, "held")
	if nodes := j.NodesCopy(); len(nodes) != 1 || nodes[0].ServerID != held.ID {
		t.Errorf("the journal's nodes %+v do not name the adopted server %s", nodes, held.ID)
	}
}
