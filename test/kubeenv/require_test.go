package kubeenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recordingTB notes whether Require skipped or failed, stopping the
// goroutine as testing.T does.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func requireWith(err error) *recordingTB {
	saved, savedErr := shared, sharedErr
	defer func() { shared, sharedErr = saved, savedErr }()
	shared, sharedErr = nil, err
	r := &recordingTB{}
	done := make(chan struct{})
	go func() { defer close(done); Require(r) }()
	<-done
	return r
}

func TestRequireFailsInCIWithoutBinaries(t *testing.T) {
	missing := fmt.Errorf("%w (missing /nowhere/etcd)", ErrNoBinaries)

	t.Setenv("CI", "")
	if r := requireWith(missing); !r.skipped || r.failed {
		t.Fatalf("outside CI: skipped=%v failed=%v, want a skip", r.skipped, r.failed)
	} else if want := "scripts/kubeenv.sh"; !strings.Contains(r.msg, want) {
		t.Fatalf("skip message %q does not say to run %s", r.msg, want)
	}

	t.Setenv("CI", "true")
	if r := requireWith(missing); !r.failed || r.skipped {
		t.Fatalf("under CI=true: skipped=%v failed=%v, want a failure", r.skipped, r.failed)
	}

	t.Setenv("CI", "")
	if r := requireWith(fmt.Errorf("kube-apiserver exited")); !r.failed {
		t.Fatal("a broken environment was skipped instead of failing")
	}
}
