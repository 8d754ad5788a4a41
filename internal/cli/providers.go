package cli

import (
	"context"
	"net/http"
	"time"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/dns/cloudflare"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot"
	"github.com/cto-platform/cto/internal/spec"
)

// newProvider builds the provider a spec names, with credentials from the
// environment. A missing credential is bad input: it names the variable.
func newProvider(ctx context.Context, s spec.ClusterSpec) (provider.Provider, error) {
	if err := checkProviderEndpoint(apiTarget{provider: s.Provider, apiURL: s.APIURL, source: "--api-url"}); err != nil {
		return nil, err
	}
	switch s.Provider {
	case "latitude":
		return newLatitude(s)
	case hetzner.Name:
		return newHetzner(s)
	case robot.Name:
		return newHetznerRobot(s)
	case "vultr":
		return newVultr(s)
	default:
		return nil, badInputf("provider %q is not available in this build of cto; use one of latitude, %s, %s, vultr", s.Provider, hetzner.Name, robot.Name)
	}
}

// newDeps wires the collaborators of a deploy for a spec.
func newDeps(ctx context.Context, g *globals, s spec.ClusterSpec, interactive bool) (*pipeline.Deps, error) {
	d := &pipeline.Deps{Spec: s}
	if s.NeedsMachines() {
		p, err := newProvider(ctx, s)
		if err != nil {
			return nil, err
		}
		d.Provider = p
		if c, ok := p.(provider.OrderConfirmer); ok {
			c.ConfirmOrdersWith(d.Approve)
		}
		d.BootMedia = pipeline.TalosBootMedia
	}
	if s.DNS.Domain != "" {
		p, err := newDNSProvider(s)
		if err != nil {
			return nil, err
		}
		d.DNS = p
	}
	if s.Provider == "local" {
		lc, err := newLocalCluster(ctx)
		if err != nil {
			return nil, err
		}
		d.LocalCluster = lc
	}
	return d, nil
}

// newDNSProvider builds the DNS provider of --dns-provider with its
// credentials from the environment.
func newDNSProvider(s spec.ClusterSpec) (dns.Provider, error) {
	switch s.DNS.Provider {
	case "cloudflare":
		token := envOr(cloudflare.EnvToken)
		if token == "" {
			return nil, badInputf("--dns-provider cloudflare needs an API token that may edit DNS records: set %s", cloudflare.EnvToken)
		}
		return cloudflare.New(token, envOr(cloudflare.EnvURL), &http.Client{Timeout: 30 * time.Second}), nil
	default:
		return nil, badInputf("--dns-provider %q is not supported; use cloudflare", s.DNS.Provider)
	}
}
