package cache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type clockAt struct{ t time.Time }

func (c *clockAt) now() time.Time { return c.t }

func newStore(t *testing.T) (*Store, *clockAt) {
	t.Helper()
	c := &clockAt{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return &Store{Dir: filepath.Join(t.TempDir(), "cache"), TTL: time.Minute, Now: c.now}, c
}

func TestHitThenExpiry(t *testing.T) {
	s, c := newStore(t)
	k := Key{Kind: "plans", Provider: "latitude", Endpoint: "http://127.0.0.1:1", Query: map[string]any{"region": "DAL"}}
	var got []string
	if s.Get(k, &got) {
		t.Fatal("empty store answered")
	}
	if err := s.Put(k, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(59 * time.Second)
	if !s.Get(k, &got) || strings.Join(got, ",") != "a,b" {
		t.Fatalf("fresh entry: hit %v, %v", s.Get(k, &got), got)
	}
	c.t = c.t.Add(time.Second)
	if s.Get(k, &got) {
		t.Fatal("entry answered at its TTL")
	}
	c.t = c.t.Add(-2 * time.Hour) // a clock set back: the entry is from the future
	if s.Get(k, &got) {
		t.Fatal("entry from the future answered")
	}
}

func TestKeysDoNotMix(t *testing.T) {
	s, _ := newStore(t)
	base := Key{Kind: "plans", Provider: "latitude", Endpoint: "http://127.0.0.1:1", Query: map[string]any{"gpu": false}}
	if err := s.Put(base, "base"); err != nil {
		t.Fatal(err)
	}
	others := []Key{
		{Kind: "plans", Provider: "latitude", Endpoint: "http://127.0.0.1:2", Query: base.Query},
		{Kind: "plans", Provider: "vultr", Endpoint: base.Endpoint, Query: base.Query},
		{Kind: "regions", Provider: "latitude", Endpoint: base.Endpoint, Query: base.Query},
		{Kind: "plans", Provider: "latitude", Endpoint: base.Endpoint, Query: map[string]any{"gpu": true}},
	}
	for _, k := range others {
		var v string
		if s.Get(k, &v) {
			t.Errorf("%+v answered with the entry of %+v", k, base)
		}
	}
	var v string
	if !s.Get(base, &v) || v != "base" {
		t.Fatalf("base entry: %q", v)
	}
}

func TestFilesAreOwnerOnlyAndHoldNoCredentials(t *testing.T) {
	s, _ := newStore(t)
	k := Key{Kind: "plans", Provider: "latitude", Endpoint: "https://user:s3cret-pass@api.example.test/v1?token=s3cret-token"}
	if err := s.Put(k, []int{1}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache folder: %v %v", entries, err)
	}
	dirInfo, _ := os.Stat(s.Dir)
	if dirInfo.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v, want 0700", dirInfo.Mode().Perm())
	}
	path := filepath.Join(s.Dir, entries[0].Name())
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("entry mode %v, want 0600", info.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "s3cret") {
		t.Errorf("entry holds a credential of the URL:\n%s", data)
	}
	// The same endpoint without its credentials is the same entry.
	var got []int
	if !s.Get(Key{Kind: "plans", Provider: "latitude", Endpoint: "https://api.example.test/v1"}, &got) {
		t.Error("the endpoint without credentials missed")
	}
}

func TestCorruptEntryIsAMiss(t *testing.T) {
	s, _ := newStore(t)
	k := Key{Kind: "plans", Provider: "latitude"}
	if err := s.Put(k, "ok"); err != nil {
		t.Fatal(err)
	}
	path, _, _ := s.path(k)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var v string
	if s.Get(k, &v) {
		t.Fatal("corrupt entry answered")
	}
	if err := s.Put(k, "again"); err != nil || !s.Get(k, &v) || v != "again" {
		t.Fatalf("rewrite after corruption: %v %q", err, v)
	}
}
