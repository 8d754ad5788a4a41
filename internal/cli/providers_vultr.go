package cli

import (
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/vultr"
	"github.com/cto-platform/cto/internal/spec"
)

// newVultr builds the Vultr provider: the key from VULTR_API_KEY, the
// endpoint from --api-url, else VULTR_API_URL, else Vultr's API.
func newVultr(s spec.ClusterSpec) (provider.Provider, error) {
	token := envOr("VULTR_API_KEY")
	if token == "" {
		return nil, badInputf("VULTR_API_KEY is not set: create an API key in the Vultr customer portal (Account > API) and export VULTR_API_KEY")
	}
	url := s.APIURL
	if url == "" {
		url = envOr("VULTR_API_URL")
	}
	p, err := vultr.New(vultr.Options{Token: token, BaseURL: url})
	if err != nil {
		return nil, BadInput(err)
	}
	return p, nil
}
