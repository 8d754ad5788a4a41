package platform

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
)

// CheckReachable connects to the cluster of a kubeconfig file and asks for
// its version, so a wrong path, context or an unreachable API server is
// reported before anything is installed. It returns the server's version.
func CheckReachable(ctx context.Context, kubeconfig string) (string, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return "", err
	}
	cfg.Timeout = 15 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	type result struct {
		version string
		err     error
	}
	done := make(chan result, 1)
	go func() {
		v, err := dc.ServerVersion()
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{version: v.GitVersion}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("cannot reach the cluster of kubeconfig %s at %s: %v", kubeconfig, cfg.Host, r.err)
		}
		return r.version, nil
	}
}

// ProbeReady asks the API server of a kubeconfig once whether it is ready
// (GET /readyz) and, when it is, for its version. A control plane hands
// out its kubeconfig before its API server answers, so callers poll this.
func ProbeReady(ctx context.Context, kubeconfig string, timeout time.Duration) (string, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return "", err
	}
	cfg.Timeout = timeout
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := dc.RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("%s/readyz: %v", cfg.Host, err)
	}
	if s := strings.TrimSpace(string(body)); s != "ok" {
		return "", fmt.Errorf("%s/readyz answers %q", cfg.Host, s)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("%s/version: %v", cfg.Host, err)
	}
	return v.GitVersion, nil
}
