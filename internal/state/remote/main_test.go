package remote

import (
	"context"
	"os"
	"testing"

	"github.com/cto-platform/cto/test/s3store"
)

func TestMain(m *testing.M) {
	s3store.MaybeServe()
	os.Exit(m.Run())
}

// testStore starts a real S3-compatible store with one bucket and returns a
// Store on it, reached through endpoint (the store's own when "").
func testStore(t *testing.T, prefix string) (*Store, *s3store.Store) {
	t.Helper()
	srv := s3store.Start(t, "team")
	return storeAt(t, srv.Endpoint, prefix), srv
}

func storeAt(t *testing.T, endpoint, prefix string) *Store {
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

func setAWSEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", s3store.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3store.SecretKey)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func startForBench(b testing.TB) *s3store.Store { return s3store.Start(b, "team") }

func storeAtBench(b testing.TB, srv *s3store.Store) *Store {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": s3store.AccessKey, "AWS_SECRET_ACCESS_KEY": s3store.SecretKey,
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true"} {
		b.Setenv(k, v)
	}
	loc, err := ParseURL("s3://team/bench?endpoint=" + srv.Endpoint + "&use_path_style=true&region=us-east-1")
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), loc)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchKey(b testing.TB) *Key {
	path := b.TempDir() + "/key"
	if _, err := Keygen(path); err != nil {
		b.Fatal(err)
	}
	k, err := LoadKey(path)
	if err != nil {
		b.Fatal(err)
	}
	return k
}
