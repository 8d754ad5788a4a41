package cli

import (
	"net"
	"net/url"
	"strings"
)

// checkAPIURL refuses an API endpoint that cannot work (not an http or
// https URL with a host) and one that would carry the credentials in
// clear text: plain http is allowed to loopback only (a local proxy or a
// test double). source names where the value came from (--api-url, a
// variable), so the one-line error says what to fix.
func checkAPIURL(source, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return badInputf("%s %q is not a URL; use https://host[:port][/path]", source, raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return badInputf("%s %q would send the API token in clear text; use https (plain http is allowed to loopback addresses only)", source, raw)
		}
	default:
		return badInputf("%s %q is not an http or https URL; use https://host[:port][/path]", source, raw)
	}
	if u.User != nil {
		return badInputf("%s must not carry a user or password; the provider's token comes from its environment variable", source)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkProviderEndpoint checks the endpoint a provider of s would talk to:
// --api-url, else the provider's variable.
func checkProviderEndpoint(s apiTarget) error {
	if s.apiURL != "" {
		return checkAPIURL(s.source, s.apiURL)
	}
	if p, ok := rented(s.provider); ok && p.endpointEnv != "" {
		if v := envOr(p.endpointEnv); v != "" {
			return checkAPIURL(p.endpointEnv, v)
		}
	}
	return nil
}

// apiTarget is a provider and the endpoint given for it.
type apiTarget struct {
	provider, apiURL, source string
}
