// Package cache keeps short-lived answers of provider listings on disk, so a
// command asked twice within minutes answers without a round trip. Entries
// are JSON files (0600, in a 0700 folder) named by a hash of their key; a
// key names the provider, its endpoint and the query, never a credential.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/cto-platform/cto/internal/state"
)

// DefaultTTL is how long an entry answers before it is fetched again.
const DefaultTTL = 5 * time.Minute

// Key identifies one listing: which provider, at which endpoint, asked
// what. Two keys that differ in any field never share an entry.
type Key struct {
	Kind     string `json:"kind"` // "plans", "regions"
	Provider string `json:"provider"`
	Endpoint string `json:"endpoint"`
	Query    any    `json:"query,omitempty"`
}

// Store is a folder of entries. The zero TTL is DefaultTTL; a nil Now is
// the wall clock.
type Store struct {
	Dir string
	TTL time.Duration
	Now func() time.Time
}

type entry struct {
	Key       json.RawMessage `json:"key"`
	FetchedAt time.Time       `json:"fetched_at"`
	Value     json.RawMessage `json:"value"`
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Store) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultTTL
}

// path is the entry's file: a hash of the canonical key.
func (s *Store) path(k Key) (string, []byte, error) {
	k.Endpoint = Endpoint(k.Endpoint)
	canon, err := canonical(k)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(canon)
	return filepath.Join(s.Dir, k.Kind+"-"+hex.EncodeToString(sum[:12])+".json"), canon, nil
}

// Get fills v from a fresh entry of k and reports whether there was one.
// A missing, expired, unreadable or foreign entry is a miss, not an error:
// the caller fetches again.
func (s *Store) Get(k Key, v any) bool {
	path, canon, err := s.path(k)
	if err != nil {
		return false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var e entry
	if json.Unmarshal(data, &e) != nil {
		return false
	}
	if got, _ := canonical(e.Key); string(got) != string(canon) {
		return false // a hash collision or a hand-edited file
	}
	age := s.now().Sub(e.FetchedAt)
	if age < 0 || age >= s.ttl() {
		return false
	}
	return json.Unmarshal(e.Value, v) == nil
}

// Put stores v as the entry of k, atomically and readable by the owner
// only.
func (s *Store) Put(k Key, v any) error {
	path, canon, err := s.path(k)
	if err != nil {
		return err
	}
	value, err := json.Marshal(v)
	if err != nil {
		return err
	}
	data, err := json.Marshal(entry{Key: canon, FetchedAt: s.now().UTC(), Value: value})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("create cache folder: %w", err)
	}
	if err := state.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write cache entry: %w", err)
	}
	return nil
}

// canonical is a key's JSON with object fields in one order whatever the
// query's Go type (a struct when stored, a map when read back).
func canonical(k any) ([]byte, error) {
	data, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic)
}

// Endpoint is an API URL as a cache key holds it: credentials in the URL
// (user:password@, query parameters) are dropped, so no entry records them.
func Endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if raw == "" {
			return ""
		}
		return "unparsed:" + hashOf(raw)
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
