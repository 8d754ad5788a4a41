package remote

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cto-platform/cto/test/s3store"
)

// The store the tests run against must itself honour S3's conditional
// requests, or the lock tests below prove nothing.
func TestStoreHonoursConditionalRequests(t *testing.T) {
	s, _ := testStore(t, "p")
	ctx := context.Background()
	e1, err := s.Put(ctx, "k", []byte("one"), Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "k", []byte("two"), Cond{IfNoneMatch: true}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("second If-None-Match: * create: %v, want 412", err)
	}
	if _, err := s.Put(ctx, "k", []byte("two"), Cond{IfMatch: `"0123"`}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("If-Match on a stale ETag: %v, want 412", err)
	}
	e2, err := s.Put(ctx, "k", []byte("two"), Cond{IfMatch: e1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "k", e1); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("DELETE If-Match on a stale ETag: %v, want 412", err)
	}
	if err := s.Delete(ctx, "k", e2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// mustAcquire takes the lock of cluster for op, failing the test if it cannot.
func mustAcquire(t *testing.T, s *Store, cluster, op string, ttl time.Duration) *Lease {
	t.Helper()
	l, err := Acquire(context.Background(), s, cluster, op, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLockKeepsASecondHolderOut(t *testing.T) {
	s, _ := testStore(t, "p")
	ctx := context.Background()
	a := mustAcquire(t, s, "c1", "deploy", time.Minute)
	_, err := Acquire(ctx, s, "c1", "destroy", time.Minute)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "cto deploy") || !strings.Contains(err.Error(), "cto state unlock --name c1 --force") {
		t.Fatalf("second acquire: %v", err)
	}
	// Another cluster is not affected.
	other := mustAcquire(t, s, "c2", "deploy", time.Minute)
	other.Release(ctx)
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := Acquire(ctx, s, "c1", "destroy", time.Minute)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	b.Release(ctx)
}

// abandon stops renewing without releasing, as a killed holder does.
func (l *Lease) abandon() { close(l.stop); <-l.done }

func TestExpiredLockIsTakenOverByExactlyOne(t *testing.T) {
	s, _ := testStore(t, "p")
	ctx := context.Background()
	ttl := 2 * time.Second
	dead := mustAcquire(t, s, "c1", "deploy", ttl)
	dead.abandon()
	if _, err := Acquire(ctx, s, "c1", "deploy", ttl); !errors.Is(err, ErrLocked) {
		t.Fatalf("before expiry: %v", err)
	}
	time.Sleep(ttl + 1100*time.Millisecond) // the Date header has 1s resolution
	const takers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []*Lease
	var lost int
	for range takers {
		wg.Go(func() {
			l, err := Acquire(ctx, s, "c1", "deploy", time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, l)
			case errors.Is(err, ErrLocked):
				lost++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || lost != takers-1 {
		t.Fatalf("%d takers won, %d lost; want exactly one winner", len(won), lost)
	}
	won[0].Release(ctx)
}

func TestRenewalKeepsTheLockAndNoticesLoss(t *testing.T) {
	s, _ := testStore(t, "p")
	ctx := context.Background()
	ttl := 2 * time.Second
	l := mustAcquire(t, s, "c1", "deploy", ttl)
	time.Sleep(2*ttl + time.Second)
	if _, err := Acquire(ctx, s, "c1", "deploy", ttl); !errors.Is(err, ErrLocked) {
		t.Fatalf("a renewed lock was taken: %v", err)
	}
	if l.Info().Renewal < 3 {
		t.Fatalf("renewed %d times in %s", l.Info().Renewal, 2*ttl)
	}
	if _, err := Unlock(ctx, s, "c1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(2 * ttl):
		t.Fatal("the holder did not notice its lock was removed")
	}
	if !errors.Is(l.Err(), ErrLockLost) {
		t.Fatal(l.Err())
	}
}

func TestStoreIgnoringConditionsIsRefused(t *testing.T) {
	s, proxy := proxiedStore(t, "p")
	proxy.Decide(func(r *http.Request) s3store.Fault {
		if r.Method == http.MethodPut {
			return s3store.IgnoreConditions
		}
		return s3store.Pass
	})
	_, err := Acquire(context.Background(), s, "c1", "deploy", time.Minute)
	if !errors.Is(err, ErrNoConditionalWrites) {
		t.Fatalf("acquire on a store ignoring conditions: %v", err)
	}
	if proxy.Fired.Load() == 0 {
		t.Fatal("the proxy never saw a conditional write")
	}
	if _, _, err := Peek(context.Background(), s, "c1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused lock was left behind: %v", err)
	}
}

func TestLockSurvivesLostAnswers(t *testing.T) {
	s, proxy := proxiedStore(t, "p")
	ctx := context.Background()
	// The create's answer is lost: the SDK retries, the store answers
	// 412 to the retry, and the lock must still be recognised as ours.
	var once sync.Once
	proxy.Decide(func(r *http.Request) s3store.Fault {
		f := s3store.Pass
		if r.Method == http.MethodPut && r.Header.Get("If-None-Match") == "*" {
			once.Do(func() { f = s3store.DropAnswer })
		}
		return f
	})
	l, err := Acquire(ctx, s, "c1", "deploy", 2*time.Second)
	if err != nil {
		t.Fatalf("acquire with a lost answer: %v", err)
	}
	if proxy.Fired.Load() != 1 {
		t.Fatalf("fault fired %d times", proxy.Fired.Load())
	}
	// Every renewal's answer is lost once.
	proxy.Decide(func(r *http.Request) s3store.Fault {
		if r.Method == http.MethodPut && r.Header.Get("If-Match") != "" && proxy.Fired.Load()%2 == 1 {
			return s3store.DropAnswer
		}
		if r.Method == http.MethodPut && r.Header.Get("If-Match") != "" {
			proxy.Fired.Add(1) // count the passes too, to alternate
		}
		return s3store.Pass
	})
	time.Sleep(3 * time.Second)
	select {
	case <-l.Lost():
		t.Fatalf("lost the lock to lost answers: %v", l.Err())
	default:
	}
	if proxy.Fired.Load() < 3 {
		t.Fatalf("only %d renewal faults", proxy.Fired.Load())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
