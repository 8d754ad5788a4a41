package platformtest

import (
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
)

// UninstallAtCleanup removes a Helm release when the test ends, so a test
// that installs one (Cilium) leaves the shared cluster as other tests
// expect it.
func UninstallAtCleanup(t testing.TB, kubeconfig, namespace, release string) {
	t.Helper()
	t.Cleanup(func() {
		cfg := &action.Configuration{}
		if err := cfg.Init(kube.GetConfig(kubeconfig, "", namespace), namespace, "secret", func(string, ...any) {}); err != nil {
			t.Errorf("uninstall %s: %v", release, err)
			return
		}
		u := action.NewUninstall(cfg)
		if _, err := u.Run(release); err != nil {
			t.Errorf("uninstall %s: %v", release, err)
		}
	})
}
