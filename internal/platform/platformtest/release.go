package platformtest

import (
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"

	"github.com/cto-platform/cto/internal/platform"
)

// UninstallAtCleanup removes a Helm release when the test ends, so a test
// that installs one (Cilium) leaves the shared cluster as other tests
// expect it.
func UninstallAtCleanup(t testing.TB, kubeconfig, namespace, release string) {
	t.Helper()
	t.Cleanup(func() {
		cfg, err := platform.HelmConfig(kubeconfig, namespace)
		if err != nil {
			t.Errorf("uninstall %s: %v", release, err)
			return
		}
		u := action.NewUninstall(cfg)
		u.WaitStrategy = kube.HookOnlyStrategy
		if _, err := u.Run(release); err != nil {
			t.Errorf("uninstall %s: %v", release, err)
		}
	})
}
