package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"
)

var (
	// ErrLocked means another cto process holds the cluster's lock.
	ErrLocked = errors.New("cluster is locked")
	// ErrLockLost means the lock could not be renewed before it expired,
	// or someone removed it: another process may now hold it.
	ErrLockLost = errors.New("lost the cluster's lock")
	// ErrNoConditionalWrites means the store ignores If-None-Match, so
	// no lock on it can keep two writers apart.
	ErrNoConditionalWrites = errors.New("the store ignores conditional writes")
)

// LockInfo is the lock object's body: who holds the cluster and until when.
type LockInfo struct {
	ID      string    `json:"id"`
	Holder  string    `json:"holder"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Created time.Time `json:"created"`
	// Expires is the holder's estimate, for people. Expiry is judged by
	// the store's clock: the object's last write plus TTL.
	Expires time.Time `json:"expires"`
	TTL     Duration  `json:"ttl"`
	Renewal int       `json:"renewal"`
}

// Duration is a time.Duration written as "1m30s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func (i LockInfo) describe() string {
	return fmt.Sprintf("%s on %s (process %d, cto %s) until about %s", i.Holder, i.Host, i.PID, i.Command, i.Expires.UTC().Format(time.RFC3339))
}

func lockKey(cluster string) string { return "clusters/" + cluster + "/lock" }

// Lease is a held lock, renewed in the background until Release.
type Lease struct {
	s       *Store
	cluster string

	mu   sync.Mutex
	info LockInfo
	etag string
	err  error

	lost chan struct{}
	stop chan struct{}
	done chan struct{}
}

// Acquire takes the cluster's lock for ttl, renewing it every ttl/3 until
// Release. It fails with ErrLocked naming the holder when someone holds a
// lock that has not expired; an expired one is taken over.
func Acquire(ctx context.Context, s *Store, cluster, command string, ttl time.Duration) (*Lease, error) {
	host, _ := os.Hostname()
	holder := "unknown"
	if u, err := user.Current(); err == nil {
		holder = u.Username
	}
	l := &Lease{s: s, cluster: cluster, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	l.info = LockInfo{ID: randomID(), Holder: holder, Host: host, PID: os.Getpid(), Command: command,
		Created: time.Now().UTC(), TTL: Duration(ttl)}
	key := lockKey(cluster)
	for attempt := 0; ; attempt++ {
		if attempt == 5 {
			return nil, fmt.Errorf("%w: cluster %q: the lock changed hands five times while taking it; try again", ErrLocked, cluster)
		}
		body := l.body()
		etag, err := s.Put(ctx, key, body, Cond{IfNoneMatch: true})
		if err == nil {
			l.etag = etag
			break
		}
		if !errors.Is(err, ErrPrecondition) {
			return nil, err
		}
		cur, err := s.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		var held LockInfo
		if json.Unmarshal(cur.Data, &held) == nil && held.ID == l.info.ID {
			// Our create landed but its answer was lost; the retry saw it.
			l.etag = cur.ETag
			break
		}
		expiry := cur.Modified.Add(time.Duration(held.TTL))
		if held.TTL <= 0 || cur.Date.Before(expiry) {
			return nil, fmt.Errorf("%w: cluster %q is in use by %s; wait for it to finish, or if that process is gone run `cto state unlock --name %s --force`", ErrLocked, cluster, held.describe(), cluster)
		}
		// Expired: take it over only if it is still the version we read,
		// so of two takers exactly one wins.
		etag, err = s.Put(ctx, key, l.body(), Cond{IfMatch: cur.ETag})
		if err == nil {
			l.etag = etag
			break
		}
		if !errors.Is(err, ErrPrecondition) {
			return nil, err
		}
	}
	// A store that ignores conditions would let this second create
	// through; one that honours them answers 412.
	if _, err := s.Put(ctx, key, l.body(), Cond{IfNoneMatch: true}); err == nil {
		s.Delete(ctx, key, "")
		return nil, fmt.Errorf("%w: %s accepted a second If-None-Match: * write of the lock, so it cannot keep two writers apart; use a store that supports conditional writes (AWS S3, MinIO, Ceph RGW, Cloudflare R2, VersityGW)", ErrNoConditionalWrites, s.Loc)
	} else if !errors.Is(err, ErrPrecondition) {
		l.release(ctx)
		return nil, err
	}
	go l.renew(ttl)
	return l, nil
}

func (l *Lease) body() []byte {
	l.info.Expires = time.Now().UTC().Add(time.Duration(l.info.TTL))
	data, _ := json.Marshal(l.info)
	return data
}

// Lost is closed when the lock is lost; Err then says why.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err is why the lock was lost, or nil.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Info is the lock as last written.
func (l *Lease) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

func (l *Lease) renew(ttl time.Duration) {
	defer close(l.done)
	every := ttl / 3
	lastOK := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.renewOnce(ctx)
		cancel()
		switch {
		case err == nil:
			lastOK = time.Now()
		case errors.Is(err, ErrLockLost):
			l.lose(err)
			return
		case time.Since(lastOK) > ttl-every:
			// Renewal failed long enough that the lock may expire before
			// the next try: from then on another process may take it.
			l.lose(fmt.Errorf("%w: cluster %q: could not renew it for %s: %v", ErrLockLost, l.cluster, time.Since(lastOK).Round(time.Second), err))
			return
		}
	}
}

func (l *Lease) renewOnce(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.info.Renewal++
	body := l.body()
	etag, err := l.s.Put(ctx, lockKey(l.cluster), body, Cond{IfMatch: l.etag})
	if err == nil {
		l.etag = etag
		return nil
	}
	if !errors.Is(err, ErrPrecondition) {
		l.info.Renewal-- // not written: the next try sends the same renewal again
		return err
	}
	cur, gerr := l.s.Get(ctx, lockKey(l.cluster))
	if gerr != nil && !errors.Is(gerr, ErrNotFound) {
		return gerr
	}
	var held LockInfo
	if gerr == nil && json.Unmarshal(cur.Data, &held) == nil && held.ID == l.info.ID && held.Renewal == l.info.Renewal {
		l.etag = cur.ETag // our renewal landed; its answer was lost
		return nil
	}
	who := "it was removed (`cto state unlock --force`?)"
	if gerr == nil {
		who = "it is now held by " + held.describe()
	}
	return fmt.Errorf("%w: cluster %q: %s", ErrLockLost, l.cluster, who)
}

func (l *Lease) lose(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	close(l.lost)
}

// Release stops renewing and deletes the lock if it is still ours.
func (l *Lease) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	if l.Err() != nil {
		return nil
	}
	return l.release(ctx)
}

func (l *Lease) release(ctx context.Context) error {
	err := l.s.Delete(ctx, lockKey(l.cluster), l.etag)
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil // a retried delete finds it already gone
	}
	if errors.Is(err, ErrPrecondition) {
		return fmt.Errorf("%w: cluster %q: someone else holds it now; it was left alone", ErrLockLost, l.cluster)
	}
	return fmt.Errorf("release the lock of cluster %q: %w", l.cluster, err)
}

// Peek returns the cluster's lock, or ErrNotFound when none is held.
func Peek(ctx context.Context, s *Store, cluster string) (LockInfo, string, error) {
	cur, err := s.Get(ctx, lockKey(cluster))
	if err != nil {
		return LockInfo{}, "", err
	}
	var held LockInfo
	if err := json.Unmarshal(cur.Data, &held); err != nil {
		return LockInfo{}, cur.ETag, fmt.Errorf("the lock of cluster %q is not cto's: %v", cluster, err)
	}
	return held, cur.ETag, nil
}

// Unlock removes the cluster's lock whoever holds it, for a holder that is
// gone. It deletes only the version it read, so a lock renewed meanwhile
// (its holder is alive after all) stays.
func Unlock(ctx context.Context, s *Store, cluster string) (LockInfo, error) {
	held, etag, err := Peek(ctx, s, cluster)
	if errors.Is(err, ErrNotFound) {
		return LockInfo{}, fmt.Errorf("cluster %q is not locked", cluster)
	}
	if etag == "" {
		return LockInfo{}, err
	}
	if err := s.Delete(ctx, lockKey(cluster), etag); err != nil {
		if errors.Is(err, ErrPrecondition) {
			return held, fmt.Errorf("the lock of cluster %q changed while removing it: its holder is alive (%s); not removed", cluster, held.describe())
		}
		return held, err
	}
	return held, nil
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
