package remote

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cto-platform/cto/test/s3store"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	os.MkdirAll(dir, 0o700)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReplicaCarriesJournalAndSealedSecrets(t *testing.T) {
	s, srv := testStore(t, "team/prod")
	ctx := context.Background()
	key := testKey(t)
	a := t.TempDir() + "/c1"
	write(t, a, "state.json", `{"cluster":"c1"}`)
	write(t, a, "secrets.yaml", "ca-key: TOPSECRET")
	write(t, a, "lock", "123 deploy")
	ra, err := NewReplica(ctx, s, "c1", a, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Push(ctx); err != nil {
		t.Fatal(err)
	}
	// What lies in the bucket: the journal gzip'd, the secret sealed, no lock.
	var names []string
	filepath.Walk(filepath.Join(srv.Dir, "team"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			names = append(names, strings.TrimPrefix(p, filepath.Join(srv.Dir, "team")))
			data, _ := os.ReadFile(p)
			if strings.Contains(string(data), "TOPSECRET") {
				t.Errorf("%s holds the secret in the clear", p)
			}
		}
		return nil
	})
	if want := "/team/prod/clusters/c1/files/secrets.yaml.age"; !slices.Contains(names, want) || !slices.Contains(names, "/team/prod/clusters/c1/state.json.gz") || len(names) != 2 {
		t.Fatalf("bucket holds %v", names)
	}
	// Another machine pulls it.
	b := t.TempDir() + "/c1"
	rb, _ := NewReplica(ctx, s, "c1", b, key)
	if kept, err := rb.Pull(ctx); err != nil || kept {
		t.Fatal(kept, err)
	}
	if read(t, b, "secrets.yaml") != "ca-key: TOPSECRET" || read(t, b, "state.json") != `{"cluster":"c1"}` {
		t.Fatal("pulled copy differs")
	}
	// A secret removed on one side goes on the other at the next pull.
	os.Remove(filepath.Join(a, "secrets.yaml"))
	if err := ra.Push(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b, "secrets.yaml")); err == nil {
		t.Fatal("a file the store no longer has survived the pull")
	}
	// Without the key the journal comes, the secrets do not, and no
	// secret can be stored.
	c := t.TempDir() + "/c1"
	rc, _ := NewReplica(ctx, s, "c1", c, nil)
	if _, err := rc.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c, "secrets.yaml")); err == nil {
		t.Fatal("secret pulled without a key")
	}
	write(t, c, "kubeconfig", "token: x")
	if err := rc.Push(ctx); !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "cto state keygen") {
		t.Fatalf("secret pushed without a key: %v", err)
	}
}

func TestReplicaNeverOverwritesAnotherWriter(t *testing.T) {
	s, _ := testStore(t, "p")
	ctx := context.Background()
	a, b := t.TempDir()+"/c1", t.TempDir()+"/c1"
	write(t, a, "state.json", `{"v":1}`)
	ra, _ := NewReplica(ctx, s, "c1", a, nil)
	if err := ra.Push(ctx); err != nil {
		t.Fatal(err)
	}
	rb, _ := NewReplica(ctx, s, "c1", b, nil)
	if _, err := rb.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, b, "state.json", `{"v":2,"by":"b"}`)
	if err := rb.Push(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, a, "state.json", `{"v":2,"by":"a"}`)
	if err := ra.Push(ctx); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale writer: %v", err)
	}
	// a's copy is kept, and a later pull refuses to drop it.
	if _, err := ra.Pull(ctx); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "move the folder away") {
		t.Fatalf("pull over unsent changes: %v", err)
	}
	if read(t, a, "state.json") != `{"v":2,"by":"a"}` {
		t.Fatal("local changes lost")
	}
}

func TestReplicaResendsWhatAKilledCommandLeft(t *testing.T) {
	s, _ := testStore(t, "p")
	ctx := context.Background()
	a := t.TempDir() + "/c1"
	write(t, a, "state.json", `{"v":1}`)
	ra, _ := NewReplica(ctx, s, "c1", a, nil)
	if err := ra.Push(ctx); err != nil {
		t.Fatal(err)
	}
	// The command wrote and was killed before the next upload.
	write(t, a, "state.json", `{"v":2}`)
	again, _ := NewReplica(ctx, s, "c1", a, nil)
	kept, err := again.Pull(ctx)
	if err != nil || !kept {
		t.Fatalf("kept=%v err=%v", kept, err)
	}
	if err := again.Push(ctx); err != nil {
		t.Fatal(err)
	}
	obj, _ := s.Get(ctx, "clusters/c1/state.json.gz")
	if got, _ := gunzip(obj.Data); string(got) != `{"v":2}` {
		t.Fatalf("store holds %s", got)
	}
}

func TestReplicaSurvivesLostAnswers(t *testing.T) {
	s, proxy := proxiedStore(t, "p")
	ctx := context.Background()
	key := testKey(t)
	a := t.TempDir() + "/c1"
	ra, _ := NewReplica(ctx, s, "c1", a, key)
	var puts atomic.Int64
	proxy.Decide(func(r *http.Request) s3store.Fault {
		// The first try of every write lands but its answer is lost.
		if r.Method == http.MethodPut && puts.Add(1)%2 == 1 {
			return s3store.DropAnswer
		}
		return s3store.Pass
	})
	for i := range 3 {
		write(t, a, "state.json", `{"v":`+string(rune('1'+i))+`}`)
		write(t, a, "talosconfig", "ctx"+string(rune('1'+i)))
		// Every write lands but its answer is lost; the SDK's retries meet
		// their own write with 412, and the replica must see it landed.
		if err := ra.Push(ctx); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if proxy.Fired.Load() < 6 {
		t.Fatalf("only %d answers dropped", proxy.Fired.Load())
	}
	proxy.Decide(nil)
	b := t.TempDir() + "/c1"
	rb, _ := NewReplica(ctx, s, "c1", b, key)
	if _, err := rb.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	if read(t, b, "state.json") != `{"v":3}` || read(t, b, "talosconfig") != "ctx3" {
		t.Fatal("store missed the last write")
	}
}

func TestReplicaRemovesADestroyedCluster(t *testing.T) {
	s, srv := testStore(t, "p")
	ctx := context.Background()
	key := testKey(t)
	a := t.TempDir() + "/c1"
	write(t, a, "state.json", `{}`)
	write(t, a, "kubeconfig", `k`)
	ra, _ := NewReplica(ctx, s, "c1", a, key)
	if err := ra.Push(ctx); err != nil {
		t.Fatal(err)
	}
	// A teammate without the key destroys it.
	b := t.TempDir() + "/c1"
	rb, _ := NewReplica(ctx, s, "c1", b, nil)
	if _, err := rb.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(b)
	if err := rb.Push(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _, _ := s.List(ctx, "clusters", false)
	if len(keys) != 0 {
		t.Fatalf("left in the store: %v (%s)", keys, srv.Dir)
	}
}
