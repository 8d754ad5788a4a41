package talos

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cosi-project/runtime/pkg/safe"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	configres "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// EtcdMember is one member of the cluster's etcd as a control plane lists it.
type EtcdMember struct {
	ID       uint64
	Hostname string
	Learner  bool
}

// EtcdMemberList lists the etcd members a control plane knows. An error
// means etcd does not answer there.
func (c *Client) EtcdMemberList(ctx context.Context, endpoint string) ([]EtcdMember, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	var out []EtcdMember
	err := c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		resp, err := tc.EtcdMemberList(ctx, &machine.EtcdMemberListRequest{})
		if err != nil {
			return err
		}
		for _, m := range resp.GetMessages() {
			for _, mem := range m.GetMembers() {
				out = append(out, EtcdMember{ID: mem.GetId(), Hostname: mem.GetHostname(), Learner: mem.GetIsLearner()})
			}
		}
		return nil
	})
	return out, err
}

// Upgrade asks a node to install image and reboot into it. Talos checks
// first that a control plane may go down without etcd losing quorum
// (unless force); stage writes the image and installs it at the reboot.
// The call returns once the node has accepted; the reboot follows.
func (c *Client) Upgrade(ctx context.Context, endpoint, image string, stage, force bool) error {
	// Pulling the installer happens before the answer: give it longer
	// than an ordinary call.
	ctx, cancel := context.WithTimeout(ctx, 5*c.callTimeout())
	defer cancel()
	return c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		// The machine service's Upgrade checks etcd and reboots by itself;
		// the lifecycle service's only writes the image. Preserve stays
		// off: Talos skips its etcd check when it is set
		// (v1alpha1_server.go, Upgrade); talosctl upgrade leaves it off too.
		_, err := tc.MachineClient.Upgrade(ctx, &machine.UpgradeRequest{Image: image, Stage: stage, Force: force})
		if err != nil {
			return fmt.Errorf("upgrade to %s: %w", image, err)
		}
		return nil
	})
}

// EtcdLeave makes a control plane leave etcd, as it must before it is
// wiped or removed.
func (c *Client) EtcdLeave(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	return c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		return tc.EtcdLeaveCluster(ctx, &machine.EtcdLeaveClusterRequest{})
	})
}

// EtcdRemoveMember removes another member (a dead control plane) through
// a healthy control plane.
func (c *Client) EtcdRemoveMember(ctx context.Context, endpoint string, id uint64) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	return c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		return tc.EtcdRemoveMemberByID(ctx, &machine.EtcdRemoveMemberByIDRequest{MemberId: id})
	})
}

// Reset wipes a node. Graceful makes a control plane leave etcd first and
// the node cordon and drain itself; reboot brings it back in maintenance
// mode instead of powering it off.
func (c *Client) Reset(ctx context.Context, endpoint string, graceful, reboot bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	return c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		return tc.Reset(ctx, graceful, reboot)
	})
}

// MachineConfig is the config a node runs, read as talosctl reads it
// before patching (pkg/cluster/kubernetes patch.go, patchNodeConfig):
// the MachineConfig resource "v1alpha1" of the COSI resource API, which
// only an admin may read (it is a sensitive resource).
func (c *Client) MachineConfig(ctx context.Context, endpoint string) (coreconfig.Provider, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	var out coreconfig.Provider
	err := c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		mc, err := safe.StateGetByID[*configres.MachineConfig](ctx, tc.COSI, configres.ActiveID)
		if err != nil {
			return fmt.Errorf("the node's running config: %w", err)
		}
		out = mc.Provider()
		return nil
	})
	return out, err
}

// ApplyNoReboot applies a config to a configured node without a reboot,
// as talosctl applies its patches (mode NO_REBOOT): Talos refuses a
// config whose changes need one.
func (c *Client) ApplyNoReboot(ctx context.Context, endpoint string, cfg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	return c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		_, err := tc.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: cfg, Mode: machine.ApplyConfigurationRequest_NO_REBOOT})
		if err != nil {
			return fmt.Errorf("apply config: %w", err)
		}
		return nil
	})
}

// ErrPullUnimplemented is a node whose Talos has no image pull API.
var ErrPullUnimplemented = errors.New("the node's Talos cannot pull images through its API")

// PullImage has a node pull an image into containerd: the CRI namespace
// for the pods' images, the system one for Talos's own services (the
// kubelet). It uses the image service (talosctl image pull) and falls
// back to the machine service's older ImagePull when a node lacks it, as
// talosctl does; ErrPullUnimplemented when neither exists.
func (c *Client) PullImage(ctx context.Context, endpoint string, ns common.ContainerdNamespace, ref string) error {
	// A pull waits for the registry: give it longer than an ordinary call.
	ctx, cancel := context.WithTimeout(ctx, 30*c.callTimeout())
	defer cancel()
	return c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		stream, err := tc.ImageClient.Pull(ctx, &machine.ImageServicePullRequest{
			Containerd: &common.ContainerdInstance{Driver: common.ContainerDriver_CRI, Namespace: ns},
			ImageRef:   ref,
		})
		if err == nil {
			for {
				if _, err = stream.Recv(); err != nil {
					break
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
		}
		if status.Code(err) != codes.Unimplemented {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
		//nolint:staticcheck // the older API, for a Talos without the image service
		err = tc.ImagePull(ctx, ns, ref)
		switch {
		case err == nil:
			return nil
		case status.Code(err) == codes.Unimplemented:
			return ErrPullUnimplemented
		}
		return fmt.Errorf("pull %s: %w", ref, err)
	})
}
