package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/test/kubeenv"
)

func TestMain(m *testing.M) { kubeenv.Main(m) }

func TestServersBootTalosNodes(t *testing.T) {
	s, env := startSim(t, Options{Kube: kubeenv.Require(t)})
	for _, k := range []string{"LATITUDESH_API_URL", "LATITUDESH_AUTH_TOKEN", "CTO_CHART_MIRROR", "CTO_SIM_KUBECONFIG", "CTO_LICENSE",
		"CTO_IMAGE_FACTORY_URL", "CTO_SIMULATED_SPEED", "CLOUDFLARE_API_URL", "CLOUDFLARE_API_TOKEN", "CTO_SIM_STATE_URL",
		"HCLOUD_ENDPOINT", "HCLOUD_TOKEN", "HCLOUD_RESCUE_SSH_PORT", "VULTR_API_URL", "VULTR_API_KEY", "HETZNER_ROBOT_URL",
		"HETZNER_ROBOT_USER", "HETZNER_ROBOT_PASSWORD", "HETZNER_ROBOT_SSH_KEY", "HETZNER_ROBOT_SSH_PORT", "HETZNER_ROBOT_SERVERS"} {
		if env[k] == "" {
			t.Errorf("Env has no %s", k)
		}
	}
	// data.type names the resource the path creates, as the OpenAPI
	// document requires (the double checks it).
	api := func(method, path string, attrs map[string]any) map[string]any {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"data": map[string]any{"type": strings.TrimPrefix(path, "/"), "attributes": attrs}})
		return call(t, method, env["LATITUDESH_API_URL"]+path, env["LATITUDESH_AUTH_TOKEN"], bytes.NewReader(body))
	}
	id := func(out map[string]any) string { return out["data"].(map[string]any)["id"].(string) }
	proj := id(api("POST", "/projects", map[string]any{"name": "p"}))
	schematic := registerSchematic(t, s)
	talos := id(api("POST", "/servers", map[string]any{"project": proj, "plan": "c2-small-x86", "site": "DAL", "operating_system": "ipxe",
		"hostname": "talos", "ipxe": env["CTO_IMAGE_FACTORY_URL"] + "/pxe/" + schematic + "/v1.13.9/metal-amd64"}))
	api("POST", "/servers", map[string]any{"project": proj, "plan": "c2-small-x86", "site": "DAL", "operating_system": "ipxe",
		"hostname": "other", "ipxe": "http://boot.invalid/x"})

	if s.Node("talos") != nil {
		t.Fatal("a node runs before its server deployed")
	}
	s.Latitude().Advance(10 * time.Minute)
	api("GET", "/servers/"+talos, nil)
	n := s.Node("talos")
	if n == nil || s.Node("other") != nil {
		t.Fatalf("after the deploy: talos node %v, other node %v; want only the server booting Talos to run one", n, s.Node("other"))
	}
	// Maintenance mode: TLS with a self-signed certificate on port 50000 of
	// the server's address.
	conn, err := tls.Dial("tcp", n.Addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("Talos API of the node: %v", err)
	}
	conn.Close()
	if !strings.HasSuffix(n.Addr(), ":50000") {
		t.Errorf("node listens on %s, want port 50000", n.Addr())
	}
	// The Kubernetes API port refuses until the node is a bootstrapped
	// control plane.
	if c, err := net.Dial("tcp", strings.TrimSuffix(n.Addr(), ":50000")+":6443"); err == nil {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("port 6443 of a node in maintenance mode passed a connection on")
		}
		c.Close()
	}

	resp, err := http.Get(env["CTO_SIM_STATE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	var st State
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if len(st.Latitude.Servers) != 2 || len(st.Nodes) != 1 || !st.Nodes[0].Running || st.Nodes[0].Configured {
		t.Errorf("state = %d servers, nodes %+v; want 2 servers and one running node in maintenance mode", len(st.Latitude.Servers), st.Nodes)
	}

	api("DELETE", "/servers/"+talos, nil)
	if s.Node("talos") != nil {
		t.Error("the node of a deleted server still runs")
	}
	if _, err := net.DialTimeout("tcp", n.Addr(), time.Second); err == nil {
		t.Error("the deleted server's Talos API still answers")
	}
}

func TestVultrServersBootTalosNodes(t *testing.T) {
	s, env := startSim(t, Options{Kube: kubeenv.Require(t)})
	api := func(method, path, body string) map[string]any {
		t.Helper()
		return call(t, method, env["VULTR_API_URL"]+path, env["VULTR_API_KEY"], strings.NewReader(body))
	}
	create := func(label, ipxe string) string {
		out := api("POST", "/v2/bare-metals", `{"region":"ewr","plan":"vbm-4c-32gb","os_id":159,"label":"`+label+`","hostname":"`+label+`","ipxe_chain_url":"`+ipxe+`"}`)
		return out["bare_metal"].(map[string]any)["id"].(string)
	}
	talos := create("talos", env["CTO_IMAGE_FACTORY_URL"]+"/pxe/"+registerSchematic(t, s)+"/v1.13.9/metal-amd64")
	create("other", "http://boot.invalid/x")
	create("unknown", env["CTO_IMAGE_FACTORY_URL"]+"/pxe/abc/v1.13.9/metal-amd64")
	api("GET", "/v2/bare-metals", "")
	if s.Node("talos") != nil {
		t.Fatal("a node runs before its server deployed")
	}
	s.Vultr().Advance(time.Hour)
	api("GET", "/v2/bare-metals", "")
	n := s.Node("talos")
	if n == nil || s.Node("other") != nil || s.Node("unknown") != nil {
		t.Fatalf("after the deploy: talos node %v, other node %v, unknown schematic's node %v; want only the server booting Talos to run one",
			n, s.Node("other"), s.Node("unknown"))
	}
	if ip := strings.TrimSuffix(n.Addr(), ":50000"); !strings.HasPrefix(ip, "127.") {
		t.Errorf("the node listens on %s, want the server's loopback address", n.Addr())
	}
	api("DELETE", "/v2/bare-metals/"+talos, "")
	if s.Node("talos") != nil {
		t.Error("the node of a deleted server still runs")
	}
}

// envMap is the datacenter's environment by variable.
// startSim starts a simulated datacenter that closes when the test ends,
// and returns it with its environment as a map.
func startSim(t *testing.T, opts Options) (*Sim, map[string]string) {
	t.Helper()
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, envMap(s)
}

func envMap(s *Sim) map[string]string {
	env := map[string]string{}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// call sends one API request with a bearer token and decodes the JSON answer.
func call(t *testing.T, method, url, token string, body io.Reader) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// registerSchematic posts cto's schematic to the factory double, as a
// deploy does first, and returns its ID.
func registerSchematic(t *testing.T, s *Sim) string {
	t.Helper()
	id, err := talos.Factory{URL: envMap(s)["CTO_IMAGE_FACTORY_URL"]}.EnsureSchematic(context.Background(), talos.SchematicFor(nil))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestTalosComesUpOnlyWithItsAddress: whether a booted Talos answers on its
// server's address depends on the account's mode, as on a real machine.
// With DHCP any Talos target gets the address (an ip= Talos cannot parse is
// ignored); without DHCP only an ip= naming the server's own address and
// gateway does, which the platform fills from the placeholders.
func TestTalosComesUpOnlyWithItsAddress(t *testing.T) {
	k := kubeenv.Require(t)
	for _, mode := range []struct {
		name   string
		noDHCP bool
	}{{"dhcp", false}, {"no dhcp", true}} {
		t.Run(mode.name, func(t *testing.T) {
			s, env := startSim(t, Options{Kube: k, LatitudeNoDHCP: mode.noDHCP, Logf: t.Logf})
			im := talos.Factory{URL: env["CTO_IMAGE_FACTORY_URL"]}.Images(registerSchematic(t, s), "v1.13.9")
			unknown := talos.Factory{URL: env["CTO_IMAGE_FACTORY_URL"]}.Images("abc", "v1.13.9")
			placeholders := talos.StaticIP{Address: "{{ PUBLIC_IP }}", Gateway: "{{ PUBLIC_GW }}", Netmask: "{{ NETMASK }}"}
			other := talos.StaticIP{Address: "203.0.113.7", Gateway: "203.0.113.6", Netmask: "255.255.255.254"}
			script := func(sc string) string { return base64.StdEncoding.EncodeToString([]byte(sc)) }
			cases := []struct {
				host, ipxe   string
				dhcp, noDHCP bool // a node answers on the server's address
			}{
				{"bare-url", im.PXE(), true, false},
				{"no-ip", script(im.IPXEScript(nil)), true, false},
				{"placeholders", script(im.IPXEScript(&placeholders)), true, true},
				{"ipxe-settings", script(im.IPXEScript(&talos.IPXEStaticIP)), true, false},
				{"other-address", script(im.IPXEScript(&other)), true, false},
				{"unknown-schematic", script(unknown.IPXEScript(&placeholders)), false, false},
				{"no-boot", script(strings.TrimSuffix(im.IPXEScript(&placeholders), "boot\n")), false, false},
				{"no-initrd", script(strings.Replace(im.IPXEScript(&placeholders), "initrd ", "#initrd ", 1)), false, false},
			}
			api := func(method, path string, attrs map[string]any) map[string]any {
				t.Helper()
				body, _ := json.Marshal(map[string]any{"data": map[string]any{"type": strings.TrimPrefix(path, "/"), "attributes": attrs}})
				return call(t, method, env["LATITUDESH_API_URL"]+path, env["LATITUDESH_AUTH_TOKEN"], bytes.NewReader(body))
			}
			proj := api("POST", "/projects", map[string]any{"name": "p"})["data"].(map[string]any)["id"].(string)
			for _, c := range cases {
				api("POST", "/servers", map[string]any{"project": proj, "plan": "c2-small-x86", "site": "DAL", "operating_system": "ipxe",
					"hostname": c.host, "ipxe": c.ipxe})
			}
			s.Latitude().Advance(10 * time.Minute)
			api("GET", "/servers", nil)
			booted := map[string]string{}
			for _, srv := range s.Latitude().State().Servers {
				booted[srv.Hostname] = srv.Booted
				// The platform fills the placeholders with the address
				// GET /ips reports, only on an account without DHCP.
				filled := strings.Contains(srv.Booted, "ip="+srv.IP+"::")
				if srv.Hostname == "placeholders" && (filled != mode.noDHCP || filled == strings.Contains(srv.Booted, "{{ PUBLIC_IP }}")) {
					t.Errorf("%s booted %q: want the placeholders filled with %s only without DHCP", srv.Hostname, srv.Booted, srv.IP)
				}
			}
			for _, c := range cases {
				want := c.dhcp
				if mode.noDHCP {
					want = c.noDHCP
				}
				if got := s.Node(c.host) != nil; got != want {
					t.Errorf("%s: a node answers = %v, want %v; it booted %q", c.host, got, want, booted[c.host])
				}
			}
		})
	}
}
