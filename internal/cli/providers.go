package cli

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/dns/cloudflare"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot"
	"github.com/cto-platform/cto/internal/provider/vultr"
	"github.com/cto-platform/cto/internal/spec"
)

// rentedProvider is what cto knows of a provider that rents servers: how
// to build it and which variables it reads. registry is the one list of
// them; code elsewhere asks it, or the spec's Source, rather than compare
// provider names.
type rentedProvider struct {
	name string
	// build makes the provider with credentials from the environment; a
	// missing credential is bad input naming the variable.
	build func(spec.ClusterSpec) (provider.Provider, error)
	// endpointEnv moves the provider's API, as build reads it.
	endpointEnv string
	// credentials are the variable groups build reads its credentials
	// from: any one group, every variable of the group.
	credentials [][]string
	// ordersOnRequest: servers are bought only with --order (Robot rents
	// dedicated servers by the month).
	ordersOnRequest bool
	// publicCatalog reads the price list without credentials, for a
	// provider that serves it to anyone; nil otherwise.
	publicCatalog func(endpoint string) (provider.Provider, error)
}

var registry = []rentedProvider{
	{name: "latitude", build: newLatitude, endpointEnv: "LATITUDESH_API_URL",
		credentials: [][]string{{"LATITUDESH_AUTH_TOKEN"}, {"LATITUDE_API_KEY"}}},
	{name: hetzner.Name, build: newHetzner, endpointEnv: "HCLOUD_ENDPOINT",
		credentials: [][]string{{"HCLOUD_TOKEN"}}},
	{name: robot.Name, build: newHetznerRobot, endpointEnv: "HETZNER_ROBOT_URL",
		credentials: [][]string{{"HETZNER_ROBOT_USER", "HETZNER_ROBOT_PASSWORD"}}, ordersOnRequest: true},
	{name: "vultr", build: newVultr, endpointEnv: "VULTR_API_URL",
		credentials: [][]string{{"VULTR_API_KEY"}},
		publicCatalog: func(endpoint string) (provider.Provider, error) {
			return vultr.NewCatalog(vultr.Config{BaseURL: endpoint})
		}},
}

// rented is the registry's entry for a provider name.
func rented(name string) (rentedProvider, bool) {
	for _, p := range registry {
		if p.name == name {
			return p, true
		}
	}
	return rentedProvider{}, false
}

// machineProviders lists the providers that rent servers, in the
// registry's order.
func machineProviders() []string {
	out := make([]string, len(registry))
	for i, p := range registry {
		out[i] = p.name
	}
	return out
}

// newProvider builds the provider a spec names, with credentials from the
// environment. A missing credential is bad input: it names the variable.
func newProvider(ctx context.Context, s spec.ClusterSpec) (provider.Provider, error) {
	if err := checkProviderEndpoint(apiTarget{provider: s.Provider, apiURL: s.APIURL, source: "--api-url"}); err != nil {
		return nil, err
	}
	p, ok := rented(s.Provider)
	if !ok {
		return nil, badInputf("provider %q is not available in this build of cto; use one of %s", s.Provider, strings.Join(machineProviders(), ", "))
	}
	return p.build(s)
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
		d.BootMedia = deploy.TalosBootMedia
	}
	if s.DNS.Domain != "" {
		p, err := newDNSProvider(s)
		if err != nil {
			return nil, err
		}
		d.DNS = p
	}
	if s.Source() == spec.Local {
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
