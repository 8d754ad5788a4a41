package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/state/remote"
	"github.com/cto-platform/cto/test/s3store"
)

// remoteEnv starts a real S3-compatible store and points cto at it through
// the environment (inherited by child processes): CTO_STATE and the AWS
// variables. It returns the store and a fresh age key file.
func remoteEnv(t *testing.T, endpoint string) (*s3store.Store, string) {
	t.Helper()
	var srv *s3store.Store
	if endpoint == "" {
		srv = s3store.Start(t, "team")
		endpoint = srv.Endpoint
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s3store.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3store.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "")
	t.Setenv("CTO_STATE", "s3://team/cto?endpoint="+endpoint+"&use_path_style=true")
	key := filepath.Join(t.TempDir(), "state.key")
	if code, _, stderr := run(t, "state", "keygen", "--out", key); code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	t.Setenv("CTO_STATE_KEY", key)
	return srv, key
}

// remoteStore opens the test's store as cto sees it.
func remoteStore(t *testing.T) *remote.Store {
	t.Helper()
	loc, err := remote.ParseURL(os.Getenv("CTO_STATE"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := remote.Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// remoteJournal reads a cluster's journal from the store, as a teammate
// would: pulled into a folder of its own.
func remoteJournal(t *testing.T, name string) *state.Journal {
	t.Helper()
	root := t.TempDir()
	code, _, stderr := run(t, "--state-dir", root, "status", "--name", name, "-o", "json")
	if code != 0 {
		t.Fatalf("status from the store: %s", stderr)
	}
	loc, _ := remote.ParseURL(os.Getenv("CTO_STATE"))
	return loadJournal(t, filepath.Join(root, "remote", loc.Bucket, loc.Prefix), name)
}

func TestStateBadInputIsOneLineExitTwo(t *testing.T) {
	_, key := remoteEnv(t, "")
	home := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("not a key\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--state", "gs://bucket/x", "status"}, "not an s3:// URL"},
		{[]string{"--state", "s3://B/x", "status"}, "not an S3 bucket name"},
		{[]string{"--state", "s3://team/x?endpoint=ftp://h", "status"}, "endpoint"},
		{[]string{"--state", "s3://team/x?colour=blue", "status"}, "unknown parameter"},
		{[]string{"--state-key", bad, "status"}, "not an age identity file"},
		{[]string{"--state-key", bad + ".missing", "status"}, "cto state keygen"},
		{[]string{"--state-lock-ttl", "1s", "status"}, "too short"},
		{[]string{"--state-key", "", "deploy", "--provider", "latitude", "--yes"}, "needs --state-key"},
		{[]string{"--state", "", "state", "list"}, "give --state"},
		{[]string{"state", "unlock", "--name", "x"}, "--force"},
		{[]string{"state", "keygen", "--out", key}, "exists"},
		{[]string{"state", "add-recipient", "ssh-rsa AAAA"}, "not an age recipient"},
	} {
		code, _, stderr := run(t, append([]string{"--state-dir", home}, c.args...)...)
		if code != ExitBadInput || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, want 2 and one line with %q:\n%s", c.args, code, c.want, stderr)
		}
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("bad input left %d entries in the state folder", len(entries))
	}
}

func TestStateKeygenWritesAPrivateKey(t *testing.T) {
	_, key := remoteEnv(t, "")
	info, err := os.Stat(key)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info.Mode(), err)
	}
	data, _ := os.ReadFile(key)
	if !bytes.Contains(data, []byte("AGE-SECRET-KEY-1")) || !bytes.Contains(data, []byte("# public key: age1")) {
		t.Fatalf("not an age-keygen file:\n%s", data)
	}
}

var (
	ctoBinOnce sync.Once
	ctoBin     string
	ctoBinErr  error
)

// removeBuiltCTO removes the binary buildCTO built, if any.
func removeBuiltCTO() {
	if ctoBin != "" {
		os.RemoveAll(filepath.Dir(ctoBin))
	}
}

// buildCTO builds the static cto binary the README builds, once for the
// package's tests.
func buildCTO(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the cto binary")
	}
	ctoBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cto-bin-")
		if err != nil {
			ctoBinErr = err
			return
		}
		ctoBin = filepath.Join(dir, "cto")
		build := exec.Command("go", "build", "-o", ctoBin, "github.com/cto-platform/cto/cmd/cto")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			ctoBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if ctoBinErr != nil {
		t.Fatal(ctoBinErr)
	}
	return ctoBin
}

func deployArgs(factory, name string) []string {
	return []string{"deploy", "--image-factory-url", factory, "--provider", "latitude", "--name", name, "--nodes", "4", "--region", "DAL",
		"--plan", "c2-small-x86", "--until", "network", "--yes"}
}

func ctoCmd(bin, home string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CTO_HOME="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

// Two machines (two CTO_HOMEs) deploy one cluster kept in the store at the
// same moment: exactly one proceeds, the other is told who holds it.
func TestRemoteStateTwoProcessesRaceForOneCluster(t *testing.T) {
	bin := buildCTO(t)
	remoteEnv(t, "")
	f, factory := latitudeEnv(t)
	f.SetFaults(func(x *fake.Faults) { x.Latency = 30 * time.Millisecond })
	args := deployArgs(factory, "race")
	a, aOut := ctoCmd(bin, t.TempDir(), args...)
	b, bOut := ctoCmd(bin, t.TempDir(), args...)
	var wg sync.WaitGroup
	var aErr, bErr error
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { aErr = a.Wait() })
	wg.Go(func() { bErr = b.Wait() })
	wg.Wait()
	if (aErr == nil) == (bErr == nil) {
		t.Fatalf("want exactly one to proceed: a=%v b=%v\nA:\n%s\nB:\n%s", aErr, bErr, aOut, bOut)
	}
	loser := bOut
	if aErr != nil {
		loser = aOut
	}
	if !strings.Contains(loser.String(), "in use by") || !strings.Contains(loser.String(), "cto deploy") {
		t.Fatalf("the loser was not told who holds the cluster:\n%s", loser)
	}
	if n := len(f.State().Servers); n != 4 {
		t.Fatalf("the fake has %d servers, want the winner's 4", n)
	}
	if n := len(remoteJournal(t, "race").NodesCopy()); n != 4 {
		t.Fatalf("the store's journal has %d nodes", n)
	}
}

// The holder is killed (SIGKILL) while it creates servers. Every server the
// provider has is in its local journal at that moment (the write-ahead
// copy); another machine is refused until the lock expires, then takes the
// cluster over and ends with exactly the requested servers.
func TestRemoteStateKilledHolderIsTakenOverAfterExpiry(t *testing.T) {
	bin := buildCTO(t)
	remoteEnv(t, "")
	f, factory := latitudeEnv(t)
	f.SetFaults(func(x *fake.Faults) { x.Latency = 30 * time.Millisecond })
	ttl := 10 * time.Second
	args := append([]string{"--state-lock-ttl", ttl.String()}, deployArgs(factory, "kill")...)
	homeA, homeB := t.TempDir(), t.TempDir()
	a, aOut := ctoCmd(bin, homeA, args...)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	loc, _ := remote.ParseURL(os.Getenv("CTO_STATE"))
	walRoot := filepath.Join(homeA, "remote", loc.Bucket, loc.Prefix)
	walIDs := func() []string {
		c, err := state.Open(walRoot, "kill", false)
		if err != nil {
			return nil
		}
		j, err := c.Load()
		if err != nil {
			return nil
		}
		var ids []string
		for _, n := range j.NodesCopy() {
			if n.ServerID != "" {
				ids = append(ids, n.ServerID)
			}
		}
		return ids
	}
	deadline := time.Now().Add(time.Minute)
	for len(walIDs()) < 2 {
		if time.Now().After(deadline) {
			a.Process.Kill()
			t.Fatalf("no server journaled within a minute:\n%s", aOut)
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	killedAt := time.Now()
	atKill := walIDs()
	t.Logf("killed with %d server(s) at the fake, %d in its journal", len(f.State().Servers), len(atKill))

	b, bOut := ctoCmd(bin, homeB, args...)
	if err := b.Run(); err == nil || !strings.Contains(bOut.String(), "in use by") {
		t.Fatalf("took a live lock: %v\n%s", err, bOut)
	}
	time.Sleep(time.Until(killedAt.Add(ttl + 2*time.Second)))
	b, bOut = ctoCmd(bin, homeB, args...)
	if err := b.Run(); err != nil {
		t.Fatalf("takeover after expiry: %v\n%s", err, bOut)
	}
	st := f.State()
	var hosts []string
	for _, s := range st.Servers {
		hosts = append(hosts, s.Hostname)
	}
	slices.Sort(hosts)
	if want := []string{"kill-cp1", "kill-worker1", "kill-worker2", "kill-worker3"}; !slices.Equal(hosts, want) {
		t.Fatalf("servers after the takeover: %v, want exactly %v\n%s", hosts, want, bOut)
	}
	j := remoteJournal(t, "kill")
	// Nothing the killed command journaled is lost to the team.
	for _, id := range atKill {
		if !slices.ContainsFunc(j.NodesCopy(), func(n state.Node) bool { return n.ServerID == id }) {
			t.Errorf("server %s, journaled before the kill, is not in the store's journal after the takeover", id)
		}
	}
	for _, n := range j.NodesCopy() {
		if !slices.ContainsFunc(st.Servers, func(s fake.ServerState) bool { return s.ID == n.ServerID }) {
			t.Errorf("store journal node %s names server %q, which the fake lacks", n.Name, n.ServerID)
		}
	}
	// The killed machine, run again, finds the store moved on and refuses
	// to send its stale copy over it.
	a, aOut = ctoCmd(bin, homeA, args...)
	if err := a.Run(); err == nil || !strings.Contains(aOut.String(), "changes the store lacks") {
		t.Fatalf("stale machine: %v\n%s", err, aOut)
	}
}

// A proxy between cto and the store drops and delays answers during a
// deploy: the deploy finishes, the store ends with exactly the local
// journal and secrets, and the lock never had two holders.
func TestRemoteStateSurvivesAStoreThatDropsAndDelaysAnswers(t *testing.T) {
	srv := s3store.Start(t, "team")
	proxy := s3store.NewProxy(t, srv.Endpoint)
	proxy.Delay = 300 * time.Millisecond
	var n, puts int64
	fired := map[s3store.Fault]int{}
	var mu sync.Mutex
	proxy.Decide(func(r *http.Request) s3store.Fault {
		mu.Lock()
		defer mu.Unlock()
		n++
		f := s3store.Pass
		if r.Method == http.MethodPut {
			puts++
			switch puts % 4 {
			case 2:
				f = s3store.DropAnswer // lands, its answer is lost
			case 3:
				f = s3store.DropRequest // never lands
			}
		}
		if f == s3store.Pass && n%4 == 0 {
			f = s3store.Delay
		}
		fired[f]++
		return f
	})
	remoteEnv(t, proxy.URL)
	_, factory := latitudeEnv(t)
	home := t.TempDir()
	code, _, stderr := run(t, append([]string{"--state-dir", home}, deployArgs(factory, "faults")...)...)
	if code != 0 {
		t.Fatalf("deploy through a faulty store: %d\n%s", code, stderr)
	}
	proxy.Decide(nil)
	mu.Lock()
	t.Logf("faults: %d answers dropped, %d requests dropped, %d delayed, of %d requests", fired[s3store.DropAnswer], fired[s3store.DropRequest], fired[s3store.Delay], n)
	if fired[s3store.DropAnswer] == 0 || fired[s3store.DropRequest] == 0 || fired[s3store.Delay] == 0 {
		t.Fatal("not every fault fired")
	}
	mu.Unlock()
	loc, _ := remote.ParseURL(os.Getenv("CTO_STATE"))
	localDir := filepath.Join(home, "remote", loc.Bucket, loc.Prefix, "clusters", "faults")
	// A teammate's copy equals this machine's, file for file.
	other := t.TempDir()
	if code, _, stderr := run(t, "--state-dir", other, "kubeconfig", "--name", "faults"); code == 0 || !strings.Contains(stderr, "no kubeconfig yet") {
		t.Fatalf("kubeconfig of a cluster deployed --until network: %d %s", code, stderr)
	}
	otherDir := filepath.Join(other, "remote", loc.Bucket, loc.Prefix, "clusters", "faults")
	mine, _ := clusterFiles(localDir)
	theirs, _ := clusterFiles(otherDir)
	if len(mine) == 0 || len(mine) != len(theirs) {
		t.Fatalf("local files %d, store's %d", len(mine), len(theirs))
	}
	for name, data := range mine {
		if !bytes.Equal(theirs[name], data) {
			t.Errorf("%s differs between this machine and the store", name)
		}
	}
	if _, _, err := remote.Peek(context.Background(), remoteStore(t), "faults"); err == nil {
		t.Error("the lock was left behind")
	}
}

// push moves a local cluster into the store and pull brings it back, the
// secrets encrypted on the way; add-recipient lets a second key read them.
func TestStatePushPullAndAddRecipient(t *testing.T) {
	srv, _ := remoteEnv(t, "")
	home := t.TempDir()
	c, err := state.Open(home, "mv", true)
	if err != nil {
		t.Fatal(err)
	}
	j := state.NewJournal("mv")
	if err := c.Save(j); err != nil {
		t.Fatal(err)
	}
	c.WriteSecret("secrets.yaml", []byte("ca: PRIVATE-CA-KEY"))
	c.WriteSecret("kubeconfig", []byte("token: KUBE-TOKEN"))
	if code, out, stderr := run(t, "--state-dir", home, "state", "push", "--name", "mv"); code != 0 || !strings.Contains(out, "Moved cluster mv") {
		t.Fatalf("push: %d %s %s", code, out, stderr)
	}
	if _, err := os.Stat(c.Dir); err == nil {
		t.Fatal("the local folder stayed after the move")
	}
	filepath.Walk(srv.Dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(p)
			if bytes.Contains(data, []byte("PRIVATE-CA-KEY")) || bytes.Contains(data, []byte("KUBE-TOKEN")) {
				t.Errorf("%s holds a secret in the clear", p)
			}
		}
		return nil
	})
	code, out, _ := run(t, "--state-dir", home, "state", "list", "-o", "json")
	var listed []remoteCluster
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0].Name != "mv" || listed[0].Locked != nil {
		t.Fatalf("list: %d %s", code, out)
	}
	// A teammate with their own key cannot read the secrets until added.
	mate := filepath.Join(t.TempDir(), "mate.key")
	run(t, "state", "keygen", "--out", mate)
	mateKey, _ := remote.LoadKey(mate)
	if code, _, stderr := run(t, "--state-dir", t.TempDir(), "--state-key", mate, "kubeconfig", "--name", "mv"); code == 0 || !strings.Contains(stderr, "add-recipient") {
		t.Fatalf("teammate read secrets before being added: %d %s", code, stderr)
	}
	if code, out, stderr := run(t, "--state-dir", home, "state", "add-recipient", mateKey.Recipient); code != 0 || !strings.Contains(out, "Re-encrypted the secrets of cluster mv") {
		t.Fatalf("add-recipient: %d %s %s", code, out, stderr)
	}
	if code, out, stderr := run(t, "--state-dir", t.TempDir(), "--state-key", mate, "kubeconfig", "--name", "mv"); code != 0 || out != "token: KUBE-TOKEN" {
		t.Fatalf("teammate after add-recipient: %d %q %s", code, out, stderr)
	}
	// Back to local state.
	if code, out, stderr := run(t, "--state-dir", home, "state", "pull", "--name", "mv"); code != 0 || !strings.Contains(out, "Moved cluster mv") {
		t.Fatalf("pull: %d %s %s", code, out, stderr)
	}
	back, _ := clusterFiles(c.Dir)
	if string(back["secrets.yaml"]) != "ca: PRIVATE-CA-KEY" || string(back["kubeconfig"]) != "token: KUBE-TOKEN" || len(back["state.json"]) == 0 {
		t.Fatalf("pulled back: %v", back)
	}
	if info, _ := os.Stat(c.Path("kubeconfig")); info.Mode().Perm() != 0o600 {
		t.Fatalf("pulled secret mode %v", info.Mode())
	}
	if code, out, _ := run(t, "--state-dir", home, "state", "list"); code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("the store still lists %q after the pull", out)
	}
}

func TestStateUnlockForce(t *testing.T) {
	remoteEnv(t, "")
	s := remoteStore(t)
	held, err := remote.Acquire(context.Background(), s, "gone", "deploy", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	c, _ := state.Open(home, "gone", true)
	c.Save(state.NewJournal("gone"))
	code, _, stderr := run(t, "--state-dir", home, "state", "push", "--name", "gone")
	if code == 0 || !strings.Contains(stderr, "cto state unlock --name gone --force") {
		t.Fatalf("push to a locked cluster: %d %s", code, stderr)
	}
	code, out, stderr := run(t, "--state-dir", t.TempDir(), "state", "unlock", "--name", "gone", "--force")
	if code != 0 || !strings.Contains(out, "cto deploy") {
		t.Fatalf("unlock: %d %s %s", code, out, stderr)
	}
	select {
	case <-held.Lost():
	case <-time.After(time.Minute):
		t.Fatal("the holder did not notice")
	}
}
