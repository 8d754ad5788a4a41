package kubeenv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cto-platform/cto/test/tbtest"
)

func requireWith(err error) *tbtest.Recorder {
	saved, savedErr := shared, sharedErr
	defer func() { shared, sharedErr = saved, savedErr }()
	shared, sharedErr = nil, err
	return tbtest.Run(func(t testing.TB) { Require(t) })
}

func TestRequireFailsInCIWithoutBinaries(t *testing.T) {
	missing := fmt.Errorf("%w (missing /nowhere/etcd)", ErrNoBinaries)

	t.Setenv("CI", "")
	if r := requireWith(missing); !r.Skipped() || r.Failed() {
		t.Fatalf("outside CI: skipped=%v failed=%v, want a skip", r.Skipped(), r.Failed())
	} else if want := "scripts/kubeenv.sh"; !strings.Contains(r.Msg, want) {
		t.Fatalf("skip message %q does not say to run %s", r.Msg, want)
	}

	t.Setenv("CI", "true")
	if r := requireWith(missing); !r.Failed() || r.Skipped() {
		t.Fatalf("under CI=true: skipped=%v failed=%v, want a failure", r.Skipped(), r.Failed())
	}

	t.Setenv("CI", "")
	if r := requireWith(fmt.Errorf("kube-apiserver exited")); !r.Failed() {
		t.Fatal("a broken environment was skipped instead of failing")
	}
}
