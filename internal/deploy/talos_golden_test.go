package deploy

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/configloader"

	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner"
	"github.com/cto-platform/cto/internal/provider/hetzner/robot"
	"github.com/cto-platform/cto/internal/provider/latitude"
	"github.com/cto-platform/cto/internal/provider/vultr"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/talostest"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden Talos configs in testdata/talos")

// goldenCluster is one provider's cluster as the servers and network
// steps leave it in the journal: each node's addresses and the MACs its
// provider reports (recordNICs), and the private network's VLAN.
type goldenCluster struct {
	name     string
	provider provider.Provider
	gpu      bool
	vlan     int
	nodes    []state.Node
	// golden lists the nodes whose configs are checked in: one per
	// distinct shape (role, GPU); the others differ only in addresses.
	golden []string
}

func goldenProviders(t *testing.T) []goldenCluster {
	t.Helper()
	lat, err := latitude.New(latitude.Config{Token: "golden"})
	if err != nil {
		t.Fatal(err)
	}
	vul, err := vultr.NewCatalog(vultr.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Latitude reports both NICs (interfaces[] with role and mac_address);
	// the private network is a VLAN on the private NIC.
	latNode := func(name, role string, i int) state.Node {
		return state.Node{Name: name, Role: role, Index: i, PublicIP: "203.0.113." + strconv.Itoa(11+i), PrivateIP: "10.8.0." + strconv.Itoa(11+i),
			PublicMAC: "0c:c4:7a:10:20:" + strconv.Itoa(30+2*i), PrivateMAC: "0c:c4:7a:10:20:" + strconv.Itoa(31+2*i)}
	}
	return []goldenCluster{
		{name: "latitude-1cp", provider: lat, vlan: 2085,
			nodes:  []state.Node{latNode("demo-cp1", talos.RoleControlPlane, 0)},
			golden: []string{"demo-cp1"}},
		{name: "latitude-3cp2w", provider: lat, vlan: 2085,
			nodes: []state.Node{
				latNode("demo-cp1", talos.RoleControlPlane, 0), latNode("demo-cp2", talos.RoleControlPlane, 1), latNode("demo-cp3", talos.RoleControlPlane, 2),
				latNode("demo-worker1", talos.RoleWorker, 3), latNode("demo-worker2", talos.RoleWorker, 4),
			},
			golden: []string{"demo-cp1", "demo-worker1"}},
		{name: "latitude-gpu", provider: lat, vlan: 2085, gpu: true,
			nodes:  []state.Node{latNode("demo-cp1", talos.RoleControlPlane, 0), latNode("demo-worker1", talos.RoleWorker, 1)},
			golden: []string{"demo-worker1"}},
		// Hetzner Cloud names only the private network's NIC (private_net[]
		// mac_address); the network is routed and hands out addresses by
		// DHCP; its MTU is 1450.
		{name: "hcloud", provider: hetzner.New(hetzner.Config{}),
			nodes: []state.Node{{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicIP: "203.0.113.21", PrivateIP: "10.8.0.2",
				PrivateMAC: "86:00:00:5a:3c:01"}},
			golden: []string{"demo-cp1"}},
		// Hetzner Robot reports no MACs; the vSwitch is a VLAN (4000-4091)
		// on the server's one NIC with MTU 1400.
		{name: "robot", provider: robot.New(robot.Config{}), vlan: 4000,
			nodes:  []state.Node{{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicIP: "203.0.113.31", PrivateIP: "10.8.0.11"}},
			golden: []string{"demo-cp1"}},
		// Vultr reports the public NIC's MAC (mac_address) and the VPC
		// attachment's; the VPC is a NIC of its own, untagged.
		{name: "vultr", provider: vul,
			nodes: []state.Node{{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicIP: "203.0.113.41", PrivateIP: "10.8.0.3",
				PublicMAC: "56:00:05:1e:2a:01", PrivateMAC: "5a:01:05:1e:2a:01"}},
			golden: []string{"demo-cp1"}},
	}
}

// goldenReasons says why each document of a golden config is there, by
// kind and name ("v1alpha1" is the machine config itself).
var goldenReasons = map[string]string{
	"v1alpha1":                              "the machine and cluster config: install image and disk, certificates, kubelet and etcd on the private subnet, the storage directories bound into the kubelet, no CNI (Cilium) and no kube-proxy",
	"NetworkDefaultActionConfig":            "block ingress by default: only the rules below are open",
	"NetworkRuleConfig/public-ingress":      "apid, HTTP(S), and on control planes trustd and the Kubernetes API, from anywhere: they authenticate every call",
	"NetworkRuleConfig/cluster-tcp-ingress": "kubelet, Cilium health, Hubble and on control planes etcd, from the private and pod ranges only",
	"NetworkRuleConfig/cluster-udp-ingress": "Cilium's VXLAN between nodes, from the private and pod ranges only",
	"LinkAliasConfig/public":                "names the NIC carrying the public address by its MAC (or as the only NIC / the NIC that is not the private one)",
	"LinkConfig/public":                     "brings the public link up: any link document turns Talos's default DHCP off",
	"DHCPv4Config/public":                   "the provider hands out the public address by DHCP, so the public link keeps it",
	"LinkAliasConfig/private":               "names the private network's NIC by its MAC",
	"LinkConfig/private":                    "the private NIC: up, and (untagged networks) carrying the private address; on Hetzner Cloud with the network's MTU 1450",
	"VLANConfig/private.2085":               "Latitude's VLAN on the private NIC, with the node's private address",
	"VLANConfig/public.4000":                "Robot's vSwitch: a VLAN on the public NIC with MTU 1400, with the node's private address",
	"DHCPv4Config/private":                  "Hetzner Cloud's routed network hands out the private address and its route by DHCP",
	"Layer2VIPConfig/10.8.0.254":            "the control planes' shared virtual IP on the private network (three control planes)",
	"HostnameConfig":                        "the node's name as cto knows it, not one Talos derives from its address (the kubelet registers under it)",
}

// goldenDocuments says which documents each golden config carries.
var goldenDocuments = map[string][]string{
	"latitude-1cp/demo-cp1": {"v1alpha1", "HostnameConfig", "NetworkDefaultActionConfig", "NetworkRuleConfig/public-ingress", "NetworkRuleConfig/cluster-tcp-ingress", "NetworkRuleConfig/cluster-udp-ingress",
		"LinkAliasConfig/public", "LinkConfig/public", "DHCPv4Config/public", "LinkAliasConfig/private", "LinkConfig/private", "VLANConfig/private.2085"},
	"latitude-3cp2w/demo-cp1": {"v1alpha1", "HostnameConfig", "NetworkDefaultActionConfig", "NetworkRuleConfig/public-ingress", "NetworkRuleConfig/cluster-tcp-ingress", "NetworkRuleConfig/cluster-udp-ingress",
		"LinkAliasConfig/public", "LinkConfig/public", "DHCPv4Config/public", "LinkAliasConfig/private", "LinkConfig/private", "VLANConfig/private.2085", "Layer2VIPConfig/10.8.0.254"},
	"latitude-3cp2w/demo-worker1": {"v1alpha1", "HostnameConfig", "NetworkDefaultActionConfig", "NetworkRuleConfig/public-ingress", "NetworkRuleConfig/cluster-tcp-ingress", "NetworkRuleConfig/cluster-udp-ingress",
		"LinkAliasConfig/public", "LinkConfig/public", "DHCPv4Config/public", "LinkAliasConfig/private", "LinkConfig/private", "VLANConfig/private.2085"},
	"latitude-gpu/demo-worker1": {"v1alpha1", "HostnameConfig", "NetworkDefaultActionConfig", "NetworkRuleConfig/public-ingress", "NetworkRuleConfig/cluster-tcp-ingress", "NetworkRuleConfig/cluster-udp-ingress",
		"LinkAliasConfig/public", "LinkConfig/public", "DHCPv4Config/public", "LinkAliasConfig/private", "LinkConfig/private", "VLANConfig/private.2085"},
	"hcloud/demo-cp1": {"v1alpha1", "HostnameConfig", "NetworkDefaultActionConfig", "NetworkRuleConfig/public-ingress", "NetworkRuleConfig/cluster-tcp-ingress", "NetworkRuleConfig/cluster-udp-ingress",
		"LinkAliasConfig/public", "LinkConfig/public", "DHCPv4Config/public", "LinkAliasConfig/private", "LinkConfig/private", "DHCPv4Config/private"},
	"robot/demo-cp1": {"v1alpha1", "HostnameConfig", "NetworkDefaultActionConfig", "NetworkRuleConfig/public-ingress", "NetworkRuleConfig/cluster-tcp-ingress", "NetworkRuleConfig/cluster-udp-ingress",
		"LinkAliasConfig/public", "LinkConfig/public", "DHCPv4Config/public", "VLANConfig/public.4000"},
	"vultr/demo-cp1": {"v1alpha1", "HostnameConfig", "NetworkDefaultActionConfig", "NetworkRuleConfig/public-ingress", "NetworkRuleConfig/cluster-tcp-ingress", "NetworkRuleConfig/cluster-udp-ingress",
		"LinkAliasConfig/public", "LinkConfig/public", "DHCPv4Config/public", "LinkAliasConfig/private", "LinkConfig/private"},
}

// TestTalosConfigsPerProviderMatchGolden renders each provider's configs
// the way the talos step does (clusterInput from the spec, the journal and
// the provider's capabilities; nodeInput from the journal node), loads
// them with Talos's configloader, validates them as a metal node would,
// compares them with the checked-in files (go test -run
// TestTalosConfigsPerProviderMatchGolden -update rewrites them) and checks
// that every document in them is one the table above explains.
// goldenRun is a run of gc's cluster whose journal holds its nodes and,
// with a VLAN, its private network, as after the network step.
func goldenRun(t *testing.T, gc goldenCluster) *pipeline.Run {
	t.Helper()
	r := newRun(t, t.TempDir())
	sp := spec.Defaults()
	sp.Name, sp.Provider, sp.GPU = "demo", gc.provider.Name(), gc.gpu
	sp.Nodes, sp.ControlPlanes = len(gc.nodes), len(ControlPlanes(gc.nodes))
	r.Deps = &pipeline.Deps{Spec: sp, Provider: gc.provider}
	if err := r.Journal.Update(func(j *state.Journal) {
		for _, n := range gc.nodes {
			j.Nodes = append(j.Nodes, &n)
		}
		if gc.vlan > 0 {
			j.Resources = append(j.Resources, &state.Resource{Kind: state.KindNetwork, ID: "net_1", Attrs: map[string]string{vlanAttr: strconv.Itoa(gc.vlan)}})
		}
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTalosConfigsPerProviderMatchGolden(t *testing.T) {
	secrets := talostest.FixedSecrets(t)
	seen := map[string]bool{}
	for _, gc := range goldenProviders(t) {
		t.Run(gc.name, func(t *testing.T) {
			r := goldenRun(t, gc)
			in, err := clusterInput(r, r.Journal.NodesCopy(), secrets)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range gc.nodes {
				if !slices.Contains(gc.golden, n.Name) {
					continue
				}
				key := gc.name + "/" + n.Name
				seen[key] = true
				schematic, err := nodeSchematic(r, nodeHasGPU(r, n.Role))
				if err != nil {
					t.Fatal(err)
				}
				id := schematic.ID()
				ni, err := nodeInput(r, n, talos.Disk{Serial: "S3EWNX0N123456", WWID: "eui.0025388b91b2c3d4"}, id)
				if err != nil {
					t.Fatal(err)
				}
				got, err := talos.Generate(in, ni)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				path := filepath.Join("testdata", "talos", gc.name+"-"+n.Name+".golden.yaml")
				if *updateGolden {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, got, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to write it)", err)
				}
				if string(got) != string(want) {
					t.Errorf("config of %s differs from %s (rerun with -update after checking the change)", key, path)
				}
				checkGoldenDocuments(t, key, want)
			}
		})
	}
	used := map[string]bool{}
	for key, docs := range goldenDocuments {
		if !seen[key] {
			t.Errorf("the document table names %s, which no golden config is", key)
		}
		for _, d := range docs {
			used[d] = true
		}
	}
	for d := range goldenReasons {
		if !used[d] {
			t.Errorf("the reasons table explains %s, which no golden config carries", d)
		}
	}
}

// checkGoldenDocuments loads a golden config as Talos does, validates it
// for a metal install, and matches its documents with the table.
func checkGoldenDocuments(t *testing.T, key string, data []byte) {
	t.Helper()
	cfg, err := configloader.NewFromBytes(data)
	if err != nil {
		t.Fatalf("%s: configloader: %v", key, err)
	}
	if _, err := cfg.Validate(goldenMetal{}); err != nil {
		t.Errorf("%s: invalid for a metal install: %v", key, err)
	}
	var docs []string
	for _, d := range cfg.Documents() {
		k := d.Kind()
		if nd, ok := d.(interface{ Name() string }); ok && nd.Name() != "" {
			k += "/" + nd.Name()
		}
		docs = append(docs, k)
		if goldenReasons[k] == "" {
			t.Errorf("%s carries %s, which the reasons table does not explain", key, k)
		}
	}
	want := goldenDocuments[key]
	for _, d := range docs {
		if !slices.Contains(want, d) {
			t.Errorf("%s carries %s, which the document table does not list for it", key, d)
		}
	}
	for _, d := range want {
		if !slices.Contains(docs, d) {
			t.Errorf("the document table lists %s for %s, which it lacks (it has %s)", d, key, strings.Join(docs, ", "))
		}
	}
}

// goldenMetal is the platform of a bare-metal install, as Validate asks.
type goldenMetal struct{}

func (goldenMetal) String() string        { return "metal" }
func (goldenMetal) RequiresInstall() bool { return true }
func (goldenMetal) InContainer() bool     { return false }
