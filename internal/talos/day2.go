package talos

import (
	"context"
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
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
