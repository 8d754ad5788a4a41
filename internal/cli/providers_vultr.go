package cli

import (
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/vultr"
	"github.com/cto-platform/cto/internal/spec"
)

// newVultr builds the Vultr provider: the key from VULTR_API_KEY, the
// endpoint from --api-url, else VULTR_API_URL, else Vultr's API.
func newVultr(s spec.ClusterSpec) (provider.Provider, error) {
	cfg, err := vultr.ConfigFromEnv(s.APIURL)
	if err != nil {
		return nil, BadInput(err)
	}
	p, err := vultr.New(cfg)
	if err != nil {
		return nil, BadInput(err)
	}
	return p, nil
}
