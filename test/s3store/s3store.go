// Package s3store runs a real S3-compatible server for tests: VersityGW's
// embedded gateway over its posix backend, which implements S3's
// conditional writes (If-None-Match / If-Match on PUT, If-Match on DELETE)
// the way Amazon S3 documents them.
//
// The posix backend changes the working directory of its process, so the
// gateway runs in a child process: the test binary itself, started again
// with an environment variable that TestMain hands to MaybeServe.
package s3store

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// Credentials of the store's root user, for the AWS variables of clients.
const (
	AccessKey = "cto-test-access"
	SecretKey = "cto-test-secret-key"
	Region    = "us-east-1"
)

const (
	envDir  = "CTO_TEST_S3STORE_DIR"
	envAddr = "CTO_TEST_S3STORE_ADDR"
)

// MaybeServe runs the gateway and never returns when the process was started
// by Start; otherwise it returns at once. Call it first in TestMain.
func MaybeServe() {
	dir, addr := os.Getenv(envDir), os.Getenv(envAddr)
	if dir == "" || addr == "" {
		return
	}
	if err := serve(dir, addr); err != nil {
		fmt.Fprintln(os.Stderr, "s3store:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serve(dir, addr string) error {
	be, err := posix.New(dir, meta.XattrMeta{}, posix.PosixOpts{NewDirPerm: 0o755, Concurrency: 64})
	if err != nil {
		return err
	}
	return embedgw.RunVersityGW(context.Background(), be, &embedgw.Config{
		RootUserAccess:    AccessKey,
		RootUserSecret:    SecretKey,
		Region:            Region,
		Ports:             []string{addr},
		MaxConnections:    256,
		MaxRequests:       256,
		MultipartMaxParts: 10000,
		Quiet:             true,
		KeepAlive:         true,
	})
}

// Store is a running gateway.
type Store struct {
	// Endpoint is the store's URL, http://127.0.0.1:PORT.
	Endpoint string
	// Dir holds the buckets as folders, one file per object.
	Dir string
}

// Start runs a gateway for the test on a free loopback port, with one folder
// per bucket in buckets, and stops it when the test ends.
func Start(t testing.TB, buckets ...string) *Store {
	t.Helper()
	dir := t.TempDir()
	for _, b := range buckets {
		// The posix backend serves every folder of its root as a bucket.
		if err := os.Mkdir(filepath.Join(dir, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envDir+"="+dir, envAddr+"="+addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s3 store did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Store{Endpoint: "http://" + addr, Dir: dir}
}
