package remote

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cto-platform/cto/internal/state"
)

// ErrConflict means the store's copy changed under a writer that holds the
// lock: someone forced the lock away. The writer stops; its local copy has
// every change.
var ErrConflict = errors.New("the store's copy changed under this command")

const (
	journalName  = "state.json"
	journalKey   = "state.json.gz"
	syncedFile   = ".remote.json"
	pullingFile  = ".remote-pulling"
	lockFileName = "lock"
	// DefaultLag is how long a change of the local copy waits before it
	// is sent to the store, for a journal up to lagStepBytes gzip'd.
	DefaultLag = 2 * time.Second
	// A bigger journal waits DefaultLag more per lagStepBytes, up to
	// MaxLag: the whole journal is sent each time, and a deploy's length
	// grows with its nodes, so a fixed lag would send N-squared bytes.
	lagStepBytes = 16 << 10
	MaxLag       = 20 * time.Second
)

// synced records, in the local copy, what the store holds: per file its
// content hash and the object's ETag. A local file whose hash differs was
// changed after the last upload.
type synced struct {
	Files map[string]syncedObject `json:"files"`
}

type syncedObject struct {
	SHA  string `json:"sha256"`
	ETag string `json:"etag"`
}

// Replica mirrors one cluster's local folder (the working copy) to the
// store. The local journal, fsync'd on every update, stays the write-ahead
// record; the store follows within Lag.
type Replica struct {
	s       *Store
	cluster string
	dir     string
	seal    *sealer
	Lag     time.Duration

	mu   sync.Mutex // one push at a time
	have synced
	// journalSent is the size of the last journal upload.
	journalSent int

	stop, done chan struct{}
	failed     chan struct{}
	err        error
	lastErr    error
}

// NewReplica prepares the replica of cluster kept in dir. key may be nil:
// the journal is then replicated and secrets are refused.
func NewReplica(ctx context.Context, s *Store, cluster, dir string, key *Key) (*Replica, error) {
	z, err := newSealer(ctx, s, key)
	if err != nil {
		return nil, err
	}
	r := &Replica{s: s, cluster: cluster, dir: dir, seal: z, Lag: DefaultLag, have: synced{Files: map[string]syncedObject{}}}
	if data, err := os.ReadFile(filepath.Join(dir, syncedFile)); err == nil {
		json.Unmarshal(data, &r.have)
		if r.have.Files == nil {
			r.have.Files = map[string]syncedObject{}
		}
	}
	return r, nil
}

func (r *Replica) objectKey(name string) string {
	if name == journalName {
		return "clusters/" + r.cluster + "/" + journalKey
	}
	return "clusters/" + r.cluster + "/files/" + name + ".age"
}

// localFiles returns the files of the local copy that belong in the store.
func (r *Replica) localFiles() (map[string][]byte, error) { return Files(r.dir) }

// Files reads the files of a cluster folder that make its state: the
// journal and the secrets beside it, not the lock, temp files or cache
// folders.
func Files(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || n == lockFileName || strings.HasPrefix(n, ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[n] = data
	}
	return out, nil
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// Dirty reports whether the local copy holds changes the store lacks.
func (r *Replica) Dirty() (bool, error) {
	files, err := r.localFiles()
	if err != nil {
		return false, err
	}
	if len(files) != len(r.have.Files) {
		return true, nil
	}
	for n, data := range files {
		if r.have.Files[n].SHA != sum(data) {
			return true, nil
		}
	}
	return false, nil
}

// Pull makes the local copy the store's, under the lock. A local copy with
// changes the store lacks (a command here was killed before its last
// upload) is kept and sent by the next Push, if the store has not moved on
// since; if it has, Pull stops rather than lose either side.
func (r *Replica) Pull(ctx context.Context) (kept bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dirty, err := r.Dirty()
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(filepath.Join(r.dir, pullingFile)); err == nil {
		dirty = false // a pull was cut short: the copy is the store's, partly
	}
	obj, err := r.s.Get(ctx, r.objectKey(journalName))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, err
	}
	remoteETag := ""
	if obj != nil {
		remoteETag = obj.ETag
	}
	if dirty {
		if r.have.Files[journalName].ETag == remoteETag {
			return true, nil
		}
		return false, fmt.Errorf("%w: the local copy of cluster %q in %s has changes the store lacks, and the store's copy changed since; compare its state.json with the store's (it may name resources the store's lacks), then move the folder away to take the store's copy", ErrConflict, r.cluster, r.dir)
	}
	want := map[string][]byte{}
	have := synced{Files: map[string]syncedObject{}}
	if obj != nil {
		plain, err := gunzip(obj.Data)
		if err != nil {
			return false, fmt.Errorf("%s/%s is not a gzip'd journal: %v", r.s.Loc, r.objectKey(journalName), err)
		}
		want[journalName] = plain
		have.Files[journalName] = syncedObject{SHA: sum(plain), ETag: obj.ETag}
		keys, _, err := r.s.List(ctx, "clusters/"+r.cluster+"/files", false)
		if err != nil {
			return false, err
		}
		for _, k := range keys {
			name, ok := strings.CutSuffix(k, ".age")
			if !ok || strings.Contains(name, "/") {
				continue
			}
			if r.seal.key == nil {
				// Without a key the secrets stay in the store only.
				continue
			}
			sealed, err := r.s.Get(ctx, r.objectKey(name))
			if err != nil {
				return false, err
			}
			plain, err := r.seal.open(sealed.Data)
			if err != nil {
				return false, fmt.Errorf("%s of cluster %q: %w", name, r.cluster, err)
			}
			want[name] = plain
			have.Files[name] = syncedObject{SHA: sum(plain), ETag: sealed.ETag}
		}
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return false, err
	}
	if err := state.WriteFile(filepath.Join(r.dir, pullingFile), nil, 0o600); err != nil {
		return false, err
	}
	local, err := r.localFiles()
	if err != nil {
		return false, err
	}
	for n := range local {
		if _, ok := want[n]; !ok {
			os.Remove(filepath.Join(r.dir, n))
		}
	}
	for n, data := range want {
		if err := state.WriteFile(filepath.Join(r.dir, n), data, 0o600); err != nil {
			return false, err
		}
	}
	r.have = have
	if err := r.saveSynced(); err != nil {
		return false, err
	}
	return false, os.Remove(filepath.Join(r.dir, pullingFile))
}

func (r *Replica) saveSynced() error {
	data, _ := json.Marshal(r.have)
	if _, err := os.Stat(r.dir); errors.Is(err, os.ErrNotExist) {
		return nil // the cluster's folder was removed
	}
	return state.WriteFile(filepath.Join(r.dir, syncedFile), data, 0o600)
}

// Push sends the local copy's changes to the store: each changed file with
// a write conditional on the ETag last seen, so a store changed by someone
// else is never overwritten. A local copy without a journal (the cluster
// was destroyed) removes the cluster from the store.
func (r *Replica) Push(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	files, err := r.localFiles()
	if err != nil {
		return err
	}
	if _, ok := files[journalName]; !ok {
		return r.removeRemote(ctx)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	// Secrets first: a journal in the store never names a cluster whose
	// secrets are missing there.
	sort.Slice(names, func(i, j int) bool {
		if names[i] == journalName || names[j] == journalName {
			return names[j] == journalName && names[i] != journalName
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		data := files[n]
		sha := sum(data)
		prev, had := r.have.Files[n]
		if had && prev.SHA == sha {
			continue
		}
		var body []byte
		if n == journalName {
			body = gzipBytes(data)
			r.journalSent = len(body)
		} else if body, err = r.seal.seal(data); err != nil {
			return fmt.Errorf("%s of cluster %q: %w", n, r.cluster, err)
		}
		etag, err := r.s.Put(ctx, r.objectKey(n), body, Cond{IfNoneMatch: !had, IfMatch: prev.ETag})
		if errors.Is(err, ErrPrecondition) {
			etag, err = r.landed(ctx, n, data)
		}
		if err != nil {
			return err
		}
		r.have.Files[n] = syncedObject{SHA: sha, ETag: etag}
		if err := r.saveSynced(); err != nil {
			return err
		}
	}
	for n, prev := range r.have.Files {
		if _, ok := files[n]; ok {
			continue
		}
		if err := r.s.Delete(ctx, r.objectKey(n), prev.ETag); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		delete(r.have.Files, n)
		r.saveSynced()
	}
	return nil
}

// landed decides a conditional write that failed: if the store holds what
// was sent, the write landed and only its answer was lost (the SDK's retry
// then met its own write); otherwise someone else wrote.
func (r *Replica) landed(ctx context.Context, name string, plain []byte) (string, error) {
	obj, err := r.s.Get(ctx, r.objectKey(name))
	if err == nil {
		var got []byte
		if name == journalName {
			got, err = gunzip(obj.Data)
		} else {
			got, err = r.seal.open(obj.Data)
		}
		if err == nil && bytes.Equal(got, plain) {
			return obj.ETag, nil
		}
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	return "", fmt.Errorf("%w: %s of cluster %q was changed in %s by someone else (was the lock forced away?); stopping; the local copy in %s has every change of this command", ErrConflict, name, r.cluster, r.s.Loc, r.dir)
}

func (r *Replica) removeRemote(ctx context.Context) error {
	// The journal goes last: while it is there, so is everything it needs.
	j, hadJournal := r.have.Files[journalName]
	// Secrets this copy never read (no key) are in the store too.
	keys, _, err := r.s.List(ctx, "clusters/"+r.cluster+"/files", false)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := r.s.Delete(ctx, "clusters/"+r.cluster+"/files/"+k, ""); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	for n := range r.have.Files {
		if n != journalName {
			delete(r.have.Files, n)
		}
	}
	if hadJournal {
		if err := r.s.Delete(ctx, r.objectKey(journalName), j.ETag); err != nil && !errors.Is(err, ErrNotFound) {
			if errors.Is(err, ErrPrecondition) {
				return fmt.Errorf("%w: the journal of cluster %q was changed in %s by someone else; it was not removed", ErrConflict, r.cluster, r.s.Loc)
			}
			return err
		}
		delete(r.have.Files, journalName)
	}
	return nil
}

// Start pushes changes every Lag until Stop. A conflict or a missing key
// stops the replica: Failed is closed and Err says why. Other errors (the
// store unreachable) are retried at the next tick.
func (r *Replica) Start() {
	r.stop, r.done, r.failed = make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(r.done)
		for {
			t := time.NewTimer(r.NextLag())
			select {
			case <-r.stop:
				t.Stop()
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*requestTimeout)
			err := r.Push(ctx)
			cancel()
			if errors.Is(err, ErrConflict) || errors.Is(err, ErrNoKey) {
				r.err = err
				close(r.failed)
				return
			}
			r.lastErr = err
		}
	}()
}

// NextLag is how long the next change waits before it is sent: Lag, plus
// Lag per lagStepBytes of the last journal upload, at most MaxLag. It keeps
// the bytes a deploy sends close to linear in its nodes.
func (r *Replica) NextLag() time.Duration {
	r.mu.Lock()
	size := r.journalSent
	r.mu.Unlock()
	lag := r.Lag * time.Duration(1+size/lagStepBytes)
	return min(lag, max(MaxLag, r.Lag))
}

// Failed is closed when the replica stopped on an error it cannot retry.
func (r *Replica) Failed() <-chan struct{} { return r.failed }

// Err is why the replica failed.
func (r *Replica) Err() error { return r.err }

// Stop ends the background pushes and sends what is left, retrying for up
// to a minute when the store does not answer.
func (r *Replica) Stop(ctx context.Context) error {
	if r.stop != nil {
		close(r.stop)
		<-r.done
		if r.err != nil {
			return r.err
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := r.Push(ctx)
		if err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrNoKey) || time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNoKey) {
				err = fmt.Errorf("the store did not take the last changes of cluster %q (%v); they are safe in %s, and the next command on cluster %s here with --state sends them", r.cluster, err, r.dir, r.cluster)
			}
			return err
		}
		time.Sleep(time.Second)
	}
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func gunzip(b []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Reseal encrypts every secret again, to the recipients as they are now.
func (r *Replica) Reseal(ctx context.Context) error {
	r.mu.Lock()
	for n, o := range r.have.Files {
		if n != journalName {
			o.SHA = ""
			r.have.Files[n] = o
		}
	}
	r.mu.Unlock()
	return r.Push(ctx)
}
