package talos

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NodeState is what a node's Talos API says about it.
type NodeState int

const (
	// Unreachable: nothing answers on the Talos API port yet.
	Unreachable NodeState = iota
	// Maintenance: the node booted Talos and waits for a config.
	Maintenance
	// Configured: the node proved with mutual TLS that it runs our config.
	Configured
	// Foreign: the node runs a config signed by another CA.
	Foreign
	// Starting: the node answers but neither way yet (applying, rebooting).
	Starting
)

func (s NodeState) String() string {
	return [...]string{"unreachable", "maintenance", "configured", "foreign config", "starting"}[s]
}

// ForeignConfigError is a node that someone else configured first: its
// Talos API presents a certificate our CA did not sign.
type ForeignConfigError struct {
	Node, Endpoint string
}

func (e *ForeignConfigError) Error() string {
	return fmt.Sprintf("node %s (%s) runs a Talos config that is not ours (its API certificate is not signed by this cluster's CA): someone applied a config to it first; reinstall the server or remove it from the cluster", e.Node, e.Endpoint)
}

// Client talks to nodes' Talos APIs: insecurely in maintenance mode, with
// the cluster's talosconfig (mutual TLS) afterwards. Endpoints are ip or
// ip:port; the Talos API port is added when there is none.
type Client struct {
	Talosconfig *clientconfig.Config
	// CallTimeout bounds one API call (default 10s).
	CallTimeout time.Duration
}

func (c *Client) callTimeout() time.Duration {
	if c.CallTimeout > 0 {
		return c.CallTimeout
	}
	return 10 * time.Second
}

func (c *Client) insecure(ctx context.Context, endpoint string) (*client.Client, error) {
	return client.New(ctx,
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}), //nolint:gosec // maintenance mode has no certificate to verify
		client.WithEndpoints(Endpoint(endpoint)))
}

func (c *Client) secure(ctx context.Context, endpoint string) (*client.Client, error) {
	if c.Talosconfig == nil {
		return nil, errors.New("no talosconfig")
	}
	return client.New(ctx, client.WithConfig(c.Talosconfig), client.WithEndpoints(Endpoint(endpoint)))
}

func (c *Client) withSecure(ctx context.Context, endpoint string, fn func(ctx context.Context, tc *client.Client) error) error {
	tc, err := c.secure(ctx, endpoint)
	if err != nil {
		return err
	}
	defer tc.Close()
	return fn(ctx, tc)
}

// Probe says what state a node is in, with one TCP dial and at most two
// API calls.
func (c *Client) Probe(ctx context.Context, endpoint string) NodeState {
	d := net.Dialer{Timeout: c.callTimeout()}
	conn, err := d.DialContext(ctx, "tcp", Endpoint(endpoint))
	if err != nil {
		return Unreachable
	}
	conn.Close()

	cctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	err = c.withSecure(cctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		_, err := tc.Version(ctx)
		return err
	})
	if err == nil {
		return Configured
	}
	if isUnknownAuthority(err) {
		// Our CA does not vouch for it: maintenance mode (self-signed) or
		// someone else's config. An insecure call tells them apart.
		if _, derr := c.Disks(ctx, endpoint); derr == nil {
			return Maintenance
		}
		return Foreign
	}
	return Starting
}

func isUnknownAuthority(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "certificate signed by unknown authority") || strings.Contains(msg, "x509:")
}

// Disks lists a maintenance-mode node's disks.
func (c *Client) Disks(ctx context.Context, endpoint string) ([]*storage.Disk, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	tc, err := c.insecure(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	resp, err := tc.Disks(ctx)
	if err != nil {
		return nil, err
	}
	var out []*storage.Disk
	for _, m := range resp.GetMessages() {
		out = append(out, m.GetDisks()...)
	}
	return out, nil
}

// ErrMaybeApplied is an apply that timed out after the config was sent:
// the node may be reconfiguring its network. Verify before retrying.
var ErrMaybeApplied = errors.New("apply timed out after sending; the node may have taken the config")

// Apply sends a config to a maintenance-mode node. A config the node
// rejects is an error; a timeout after sending, a dropped connection or an
// apply already in progress is ErrMaybeApplied.
func (c *Client) Apply(ctx context.Context, endpoint string, cfg []byte, timeout time.Duration) error {
	tc, err := c.insecure(ctx, endpoint)
	if err != nil {
		return err
	}
	defer tc.Close()
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = tc.ApplyConfiguration(actx, &machine.ApplyConfigurationRequest{Data: cfg, Mode: machine.ApplyConfigurationRequest_AUTO})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Unavailable || errors.Is(err, context.DeadlineExceeded),
		status.Code(err) == codes.FailedPrecondition: // an apply is already in progress
		return ErrMaybeApplied
	default:
		return fmt.Errorf("apply config: %w", err)
	}
}

// Version is the authenticated call that proves a node runs our config.
func (c *Client) Version(ctx context.Context, endpoint string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	var tag string
	err := c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		resp, err := tc.Version(ctx)
		if err != nil {
			return err
		}
		for _, m := range resp.GetMessages() {
			tag = m.GetVersion().GetTag()
		}
		return nil
	})
	return tag, err
}

// EtcdMembers returns how many etcd members a control plane knows; an
// error means etcd does not run there (not bootstrapped, or not yet).
func (c *Client) EtcdMembers(ctx context.Context, endpoint string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	n := 0
	err := c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		resp, err := tc.EtcdMemberList(ctx, &machine.EtcdMemberListRequest{})
		if err != nil {
			return err
		}
		for _, m := range resp.GetMessages() {
			n += len(m.GetMembers())
		}
		return nil
	})
	return n, err
}

// Bootstrap starts etcd on one control plane. AlreadyExists counts as done.
func (c *Client) Bootstrap(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	return c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		err := tc.Bootstrap(ctx, &machine.BootstrapRequest{})
		if status.Code(err) == codes.AlreadyExists {
			return nil
		}
		return err
	})
}

// RetryableBootstrap reports errors worth another Bootstrap attempt: the
// node is not ready yet (time sync, services starting) or not reachable.
func RetryableBootstrap(err error) bool {
	switch status.Code(err) {
	case codes.FailedPrecondition, codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// Kubeconfig fetches the admin kubeconfig from a control plane.
func (c *Client) Kubeconfig(ctx context.Context, endpoint string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	var out []byte
	err := c.withSecure(ctx, endpoint, func(ctx context.Context, tc *client.Client) error {
		var err error
		out, err = tc.Kubeconfig(ctx)
		return err
	})
	return out, err
}
