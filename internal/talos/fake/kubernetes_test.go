package fake_test

import (
	"context"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/fake"
)

// TestRunningConfigPatchAndPull reads a node's running config through the
// COSI resource API, patches its static pod and kubelet images, applies
// it without a reboot, and pre-pulls images: what a Kubernetes upgrade
// asks of a node.
func TestRunningConfigPatchAndPull(t *testing.T) {
	c := newCluster(t)
	n := c.node("cp1", talos.RoleControlPlane, nil)
	c.advance(installTime)
	ctx := context.Background()
	cl := c.client()
	cfg, err := cl.MachineConfig(ctx, n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Cluster().APIServer().Image(), n.Config().Cluster().APIServer().Image(); got != want {
		t.Fatalf("read config has kube-apiserver %s, the node runs %s", got, want)
	}
	patched, err := cfg.PatchV1Alpha1(func(c *v1alpha1.Config) error {
		c.ClusterConfig.APIServerConfig.ContainerImage = "registry.k8s.io/kube-apiserver:v1.36.3"
		c.MachineConfig.MachineKubelet.KubeletImage = "ghcr.io/siderolabs/kubelet:v1.36.3"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := patched.EncodeBytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ApplyNoReboot(ctx, n.Addr(), data); err != nil {
		t.Fatal(err)
	}
	if n.Rebooting() || n.KubeletVersion() != "v1.36.3" || n.Config().Cluster().APIServer().Image() != "registry.k8s.io/kube-apiserver:v1.36.3" {
		t.Errorf("after the apply: kubelet %s, kube-apiserver %s, rebooting %v", n.KubeletVersion(), n.Config().Cluster().APIServer().Image(), n.Rebooting())
	}
	again, err := cl.MachineConfig(ctx, n.Addr())
	if err != nil || again.Cluster().APIServer().Image() != "registry.k8s.io/kube-apiserver:v1.36.3" {
		t.Errorf("the config read again: %v", err)
	}
	if err := cl.PullImage(ctx, n.Addr(), common.ContainerdNamespace_NS_CRI, "registry.k8s.io/kube-scheduler:v1.36.3"); err != nil {
		t.Fatal(err)
	}
	if p := n.ImagePulls(); len(p) != 1 || p[0] != (fake.ImagePull{Namespace: common.ContainerdNamespace_NS_CRI, Ref: "registry.k8s.io/kube-scheduler:v1.36.3"}) {
		t.Errorf("pulls = %v", p)
	}
}
