package kubeenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// One environment per test package: started by Main, handed out by Require.
var (
	shared    *Env
	sharedErr error
)

// Main starts one environment for a test package, with workloads
// (Options.Workloads), runs its tests and stops it. Call it from TestMain. A missing binary is not fatal here: Require
// decides per test whether that fails or skips.
func Main(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	shared, sharedErr = StartWith(ctx, Options{Workloads: true})
	cancel()
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// Require returns the package's environment. Without the binaries the test
// fails under CI=true and is skipped elsewhere, saying how to build them.
func Require(t testing.TB) *Env {
	t.Helper()
	if sharedErr == nil && shared == nil {
		t.Fatal("kubeenv.Require needs kubeenv.Main in the package's TestMain")
	}
	if sharedErr != nil {
		SkipWithoutBinaries(t, sharedErr)
		t.Fatalf("test Kubernetes API: %v", sharedErr)
	}
	return shared
}

// StartForTest starts an environment of the test's own, stopped when the
// test ends. Without the binaries the test fails under CI=true and is
// skipped elsewhere.
func StartForTest(t testing.TB) *Env { t.Helper(); return StartForTestWith(t, Options{}) }

// StartForTestWith is StartForTest with options.
func StartForTestWith(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env, err := StartWith(ctx, opts)
	if err != nil {
		SkipWithoutBinaries(t, err)
		t.Fatalf("test Kubernetes API: %v", err)
	}
	t.Cleanup(env.Stop)
	return env
}

// SkipWithoutBinaries skips the test when err says the binaries are not
// built and the tests do not run under CI=true; otherwise it returns and
// the caller reports err.
func SkipWithoutBinaries(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoBinaries) && !inCI() {
		t.Skipf("no test Kubernetes API: %v (run scripts/kubeenv.sh, or set CTO_KUBEENV_BIN)", err)
	}
}

// String is the server URL, for messages.
func (e *Env) String() string { return fmt.Sprintf("kube-apiserver at %s", e.Server) }
