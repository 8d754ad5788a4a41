package fake

import (
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNoDHCPFillsThePlaceholders: an account without DHCP runs a custom
// script with {{ PUBLIC_IP }}, {{ PUBLIC_GW }} and {{ NETMASK }} filled with
// the address GET /ips reports for the server; an account with DHCP runs
// it as sent, and a URL stays a URL.
func TestNoDHCPFillsThePlaceholders(t *testing.T) {
	const script = "#!ipxe\nkernel http://f.test/image/s/v1/kernel-amd64 ip={{ PUBLIC_IP }}::{{ PUBLIC_GW }}:{{ NETMASK }}:::off::\ninitrd http://f.test/image/s/v1/initramfs-amd64.xz\nboot\n"
	for _, noDHCP := range []bool{false, true} {
		f := New(Options{IPBase: "127.20.0.10", NoDHCP: noDHCP})
		srv := httptest.NewServer(f)
		defer srv.Close()
		c := client{t: t, url: srv.URL, tok: "Bearer " + f.Token()}
		_, _, p := c.do("POST", "/projects", attrs("projects", map[string]any{"name": "p"}))
		proj := p["data"].(map[string]any)["id"].(string)
		for host, ipxe := range map[string]string{"script": base64.StdEncoding.EncodeToString([]byte(script)), "url": "http://f.test/pxe/s/v1/metal-amd64"} {
			if code, _, out := c.do("POST", "/servers", attrs("servers", map[string]any{"project": proj, "plan": "c2-small-x86",
				"site": "DAL", "operating_system": "ipxe", "hostname": host, "ipxe": ipxe})); code != 201 {
				t.Fatalf("create %s = %d %v", host, code, out)
			}
		}
		for _, s := range f.State().Servers {
			_, _, ips := c.do("GET", "/ips?filter[server]="+s.ID, nil)
			a := ips["data"].([]any)[0].(map[string]any)["attributes"].(map[string]any)
			want := script
			switch {
			case s.Hostname == "url":
				want = "http://f.test/pxe/s/v1/metal-amd64"
			case noDHCP:
				want = strings.NewReplacer("{{ PUBLIC_IP }}", a["address"].(string), "{{ PUBLIC_GW }}", a["gateway"].(string),
					"{{ NETMASK }}", a["netmask"].(string)).Replace(script)
			}
			if s.Booted != want {
				t.Errorf("no DHCP %v, %s booted %q, want %q", noDHCP, s.Hostname, s.Booted, want)
			}
			if a["gateway"] == a["address"] || !strings.HasSuffix(a["cidr"].(string), "/31") {
				t.Errorf("GET /ips = %v: want a /31 whose gateway is the link's other address", a)
			}
		}
	}
}
