package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/cto-platform/cto/internal/cache"
	"github.com/cto-platform/cto/internal/provider"
)

// bootPathTTL is how long a learned boot path is trusted: a plan's answer
// to iPXE at order time changes rarely, and a stale one costs one refused
// order at most.
const bootPathTTL = 90 * 24 * time.Hour

// bootPathStore keeps what deploys learned of each plan's boot path in the
// state folder's cache, beside the plans.
func bootPathStore(g *globals) (*cache.Store, func(providerName, apiURL string) cache.Key) {
	return &cache.Store{Dir: filepath.Join(g.stateDir, "cache"), TTL: bootPathTTL},
		func(providerName, apiURL string) cache.Key {
			return cache.Key{Kind: "boot-paths", Provider: providerName, Endpoint: listingEndpoint(providerName, apiURL)}
		}
}

// knownBootPaths is what earlier deploys learned at a provider's endpoint.
func knownBootPaths(g *globals, providerName, apiURL string) map[string]provider.BootPath {
	store, key := bootPathStore(g)
	var paths map[string]provider.BootPath
	if !store.Get(key(providerName, apiURL), &paths) {
		return nil
	}
	return paths
}

// recallBootPaths tells a provider that learns boot paths what earlier
// deploys learned, so it goes straight to the path that worked.
func recallBootPaths(g *globals, providerName, apiURL string, p provider.Provider) {
	if l, ok := p.(provider.BootPathLearner); ok {
		l.KnowBootPaths(knownBootPaths(g, providerName, apiURL))
	}
}

// keepBootPaths stores what a provider knows of boot paths now, merged
// over what was stored.
func keepBootPaths(g *globals, providerName, apiURL string, p provider.Provider) {
	l, ok := p.(provider.BootPathLearner)
	if !ok {
		return
	}
	learned := l.BootPaths()
	if len(learned) == 0 {
		return
	}
	paths := knownBootPaths(g, providerName, apiURL)
	if paths == nil {
		paths = map[string]provider.BootPath{}
	}
	for plan, path := range learned {
		paths[plan] = path
	}
	store, key := bootPathStore(g)
	if err := store.Put(key(providerName, apiURL), paths); err != nil && g.verbose > 0 {
		fmt.Fprintf(g.streams.ErrOut, "boot paths not kept: %v\n", err)
	}
}

// withBootPaths fills each plan's boot path from what deploys learned.
func withBootPaths(g *globals, providerName, apiURL string, plans []provider.Plan) {
	known := knownBootPaths(g, providerName, apiURL)
	for i := range plans {
		if path, ok := known[plans[i].Slug]; ok && plans[i].TalosCapable {
			plans[i].BootPath = path
		}
	}
}
