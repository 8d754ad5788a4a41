package remote

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cto-platform/cto/test/s3store"
)

func TestMain(m *testing.M) {
	s3store.MaybeServe()
	os.Exit(m.Run())
}

// testStore starts a real S3-compatible store with one bucket and returns a
// Store on it under prefix, and the store itself.
func testStore(t testing.TB, prefix string) (*Store, *s3store.Store) {
	t.Helper()
	srv := s3store.Start(t, "team")
	return storeAt(t, srv.Endpoint, prefix), srv
}

// proxiedStore is testStore reached through a proxy that can inject faults.
func proxiedStore(t testing.TB, prefix string) (*Store, *s3store.Proxy) {
	t.Helper()
	_, srv := testStore(t, prefix)
	proxy := s3store.NewProxy(t, srv.Endpoint)
	return storeAt(t, proxy.URL, prefix), proxy
}

func storeAt(t testing.TB, endpoint, prefix string) *Store {
	t.Helper()
	setAWSEnv(t)
	loc, err := ParseURL("s3://team/" + prefix + "?endpoint=" + endpoint + "&use_path_style=true&region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func setAWSEnv(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", s3store.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3store.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// testKey generates a new age key in a temporary file and loads it.
func testKey(t testing.TB) *Key {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if _, err := Keygen(path); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
