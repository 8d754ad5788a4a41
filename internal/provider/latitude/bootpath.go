package latitude

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/cto-platform/cto/internal/provider"
)

// IPXEOS is the operating system that boots a custom iPXE target.
const IPXEOS = "ipxe"

// stockSystems are the operating systems a server is ordered with when its
// plan refuses iPXE at order time, in order of preference. The reference's
// known working flow orders Ubuntu and reinstalls with ipxe.
var stockSystems = []string{"ubuntu_24_04_x64_lts", "ubuntu_22_04_x64_lts", "debian_12"}

// ipxeRefused says whether a create's 422 refused the ipxe operating
// system for the plan. Field reports say only some plans accept iPXE at
// create although the ipxe system lists them all as provisionable; the
// refusal names the operating system (its words or its JSON pointer).
func ipxeRefused(err error) bool {
	var api *APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusUnprocessableEntity || api.outOfStock() {
		return false
	}
	text := strings.ToLower(strings.Join([]string{api.Code, api.Title, api.Detail, api.Pointer}, " "))
	return strings.Contains(text, "ipxe") || strings.Contains(text, "operating_system")
}

// bootPath is what this Provider knows of a plan's path ("" unknown).
func (p *Provider) bootPath(plan string) provider.BootPath {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paths[plan]
}

func (p *Provider) learn(plan string, path provider.BootPath) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paths[plan] = path
}

// BootPaths is what this Provider learned or was told, by plan slug.
func (p *Provider) BootPaths() map[string]provider.BootPath {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.paths)
}

// KnowBootPaths adds what an earlier run learned; what this Provider
// learned itself wins.
func (p *Provider) KnowBootPaths(known map[string]provider.BootPath) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for plan, path := range known {
		if _, ok := p.paths[plan]; !ok && (path == provider.BootPathDirect || path == provider.BootPathReinstall) {
			p.paths[plan] = path
		}
	}
}

// stockSystem is the first of stockSystems the API lists as provisionable
// on the plan (GET /plans/operating_systems names plans with dots).
func (p *Provider) stockSystem(ctx context.Context, plan string) (string, error) {
	on, err := p.systems(ctx)
	if err != nil {
		return "", err
	}
	name := strings.ReplaceAll(plan, "-", ".")
	for _, os := range stockSystems {
		if on[os][name] || on[os][plan] {
			return os, nil
		}
	}
	return stockSystems[0], nil
}

// Reinstall boots a server that runs a stock system into its iPXE media
// (POST /servers/{id}/reinstall with operating_system ipxe).
func (p *Provider) Reinstall(ctx context.Context, s provider.Server, boot provider.Boot) error {
	if err := p.api.Reinstall(ctx, s.ID, IPXEOS, s.Hostname, ipxeValue(boot)); err != nil {
		return fmt.Errorf("reinstall server %s (%s) with ipxe: %w", s.ID, s.Hostname, err)
	}
	return nil
}
