package cli

import (
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot"
	"github.com/cto-platform/cto/internal/spec"
)

// newHetzner builds the Hetzner Cloud provider from HCLOUD_TOKEN; a
// missing token is bad input naming the variable.
func newHetzner(s spec.ClusterSpec) (provider.Provider, error) {
	cfg, err := hetzner.ConfigFromEnv(s.APIURL, Version)
	if err != nil {
		return nil, BadInput(err)
	}
	clk := runClock()
	cfg.Clock = clk
	if scaled, ok := clk.(*clock.Scaled); ok {
		// The SDK's action waiter sleeps on the wall clock: pace it to
		// the simulated speed too.
		cfg.PollBackoff = hcloud.ExponentialBackoffWithOpts(hcloud.ExponentialBackoffOpts{
			Base: time.Duration(float64(time.Second) / scaled.Factor), Multiplier: 1.5, Cap: time.Duration(float64(10*time.Second) / scaled.Factor)})
		cfg.RetryBackoff = hcloud.ConstantBackoff(time.Duration(float64(time.Second) / scaled.Factor))
	}
	return hetzner.New(cfg), nil
}

// newHetznerRobot builds the Robot provider from HETZNER_ROBOT_USER and
// HETZNER_ROBOT_PASSWORD, adopting --servers and ordering only with
// --order (the deploy wires the order confirmation).
func newHetznerRobot(s spec.ClusterSpec) (provider.Provider, error) {
	cfg, err := robot.ConfigFromEnv(s.APIURL, s.Servers, s.Order)
	if err != nil {
		return nil, BadInput(err)
	}
	cfg.Clock = runClock()
	return robot.New(cfg), nil
}
