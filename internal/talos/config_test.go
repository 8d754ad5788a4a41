package talos_test

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/types/network"
	"github.com/siderolabs/talos/pkg/machinery/nethelpers"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/talostest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func haCluster(t *testing.T) talos.ClusterInput {
	return talos.ClusterInput{
		Name:        "demo",
		Endpoint:    "api.demo.example.com",
		SANs:        []string{"api.demo.example.com", "10.8.0.254", "203.0.113.11", "203.0.113.12", "203.0.113.13"},
		VIP:         "10.8.0.254",
		PrivateCIDR: "10.8.0.0/24",
		VLAN:        2085,
		Secrets:     talostest.FixedSecrets(t),
	}
}

// MACs of a Latitude server's public and private NICs.
const (
	pubMAC  = "0c:c4:7a:10:20:32"
	privMAC = "0c:c4:7a:10:20:33"
)

const installer = "factory.talos.dev/metal-installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.13.9"

func TestGeneratedConfigsMatchGolden(t *testing.T) {
	c := haCluster(t)
	nodes := []talos.NodeInput{
		{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "NVME-1", WWID: "eui.0001"}},
		{Name: "demo-worker1", Role: talos.RoleWorker, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.21", GPU: true, InstallImage: installer, Disk: talos.Disk{Serial: "NVME-2"}},
	}
	for _, n := range nodes {
		t.Run(n.Name, func(t *testing.T) {
			got, err := talos.Generate(c, n)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", n.Name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("config of %s differs from %s (rerun with -update after checking the change)", n.Name, path)
			}
			if strings.Contains(string(got), "# ") {
				t.Errorf("config of %s carries comments", n.Name)
			}
		})
	}
}

func parse(t *testing.T, data []byte) coreconfig.Provider {
	t.Helper()
	cfg, err := talos.ParseConfig(data)
	if err != nil {
		t.Fatalf("generated config fails validation: %v", err)
	}
	return cfg
}

func kinds(cfg coreconfig.Provider) map[string][]string {
	out := map[string][]string{}
	for _, d := range cfg.Documents() {
		name := ""
		if nd, ok := d.(interface{ Name() string }); ok {
			name = nd.Name()
		}
		out[d.Kind()] = append(out[d.Kind()], name)
	}
	return out
}

func TestGeneratedConfigContent(t *testing.T) {
	c := haCluster(t)
	cp := parse(t, must(talos.Generate(c, talos.NodeInput{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{WWID: "eui.0001", Serial: "NVME-1"}})))
	worker := parse(t, must(talos.Generate(c, talos.NodeInput{Name: "demo-worker1", Role: talos.RoleWorker, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.21", InstallImage: installer, Disk: talos.Disk{Serial: "NVME-2"}})))
	gpu := parse(t, must(talos.Generate(c, talos.NodeInput{Name: "demo-worker2", Role: talos.RoleWorker, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.22", GPU: true, InstallImage: installer, Disk: talos.Disk{Serial: "NVME-3"}})))

	if got := cp.Cluster().Endpoint().String(); got != "https://api.demo.example.com:6443" {
		t.Errorf("endpoint = %s", got)
	}
	sans := cp.RawV1Alpha1().ClusterConfig.APIServerConfig.CertSANs
	for _, want := range c.SANs {
		if !slices.Contains(sans, want) {
			t.Errorf("API server SANs %v lack %s", sans, want)
		}
	}
	for _, cfg := range []coreconfig.Provider{cp, worker, gpu} {
		if got := cfg.Machine().Install().Image(); got != installer {
			t.Errorf("install image = %s", got)
		}
		if got := cfg.Cluster().Network().CNI().Name(); got != "none" {
			t.Errorf("CNI = %s, want none", got)
		}
		if cfg.Cluster().Proxy().Enabled() {
			t.Error("kube-proxy is enabled")
		}
		if !cfg.Machine().Features().KubePrism().Enabled() || cfg.Machine().Features().KubePrism().Port() != 7445 {
			t.Error("KubePrism is not on 7445")
		}
		if cfg.Machine().Install().Disk() != "" {
			t.Errorf("install disk is a device path %q", cfg.Machine().Install().Disk())
		}
		k := kinds(cfg)
		if got := k[network.VLANKind]; len(got) != 1 || got[0] != "private.2085" {
			t.Errorf("VLAN links = %v", got)
		}
		if len(k[network.DefaultActionConfig]) != 1 {
			t.Errorf("no default-block firewall document")
		}
	}
	if sel := cp.RawV1Alpha1().MachineConfig.MachineInstall.InstallDiskSelector; sel == nil || sel.WWID != "eui.0001" {
		t.Errorf("control-plane disk selector = %+v, want WWID eui.0001", sel)
	}
	if sel := worker.RawV1Alpha1().MachineConfig.MachineInstall.InstallDiskSelector; sel == nil || sel.Serial != "NVME-2" {
		t.Errorf("worker disk selector = %+v, want serial NVME-2", sel)
	}
	if got := kinds(cp)[network.Layer2VIPKind]; len(got) != 1 || got[0] != "10.8.0.254" {
		t.Errorf("control plane VIPs = %v", got)
	}
	if got := kinds(worker)[network.Layer2VIPKind]; len(got) != 0 {
		t.Errorf("worker has VIPs %v", got)
	}
	if got := kinds(cp)[network.HostnameKind]; len(got) != 1 {
		t.Errorf("hostname documents = %v", got)
	}
	modules := func(cfg coreconfig.Provider) []string {
		var out []string
		for _, m := range cfg.Machine().Kernel().Modules() {
			out = append(out, m.Name())
		}
		return out
	}
	if got := modules(gpu); !slices.Equal(got, talos.GPUKernelModules) {
		t.Errorf("GPU node modules = %v", got)
	}
	if got := modules(worker); len(got) != 0 {
		t.Errorf("plain worker loads modules %v", got)
	}
	if got := modules(cp); len(got) != 0 {
		t.Errorf("control plane loads modules %v", got)
	}
	for name, cfg := range map[string]coreconfig.Provider{"control plane": cp, "worker": worker} {
		blocked := false
		for _, d := range cfg.Documents() {
			if a, ok := d.(*network.DefaultActionConfigV1Alpha1); ok {
				blocked = a.DefaultAction() == nethelpers.DefaultActionBlock
			}
		}
		if !blocked {
			t.Errorf("%s firewall does not block by default", name)
		}
	}
	// Each port is open to exactly who needs it: the authenticated APIs
	// and the ingress controller to everyone, the rest only to the
	// cluster's private range and pod range.
	anywhere := []string{"0.0.0.0/0", "::/0"}
	cluster := []string{"10.8.0.0/24", "10.244.0.0/16"}
	for _, tc := range []struct {
		ports  []string
		cp, wk []string // sources; nil: closed
	}{
		{[]string{"tcp/50000", "tcp/80", "tcp/443"}, anywhere, anywhere},
		{[]string{"tcp/6443", "tcp/50001"}, anywhere, nil},
		{[]string{"tcp/10250", "tcp/4240", "tcp/4244", "udp/8472"}, cluster, cluster},
		{[]string{"tcp/2379", "tcp/2380"}, cluster, nil},
		{[]string{"tcp/22", "udp/50000"}, nil, nil},
	} {
		for _, port := range tc.ports {
			if got := openTo(t, cp, port); !slices.Equal(got, tc.cp) {
				t.Errorf("control plane %s open to %v, want %v", port, got, tc.cp)
			}
			if got := openTo(t, worker, port); !slices.Equal(got, tc.wk) {
				t.Errorf("worker %s open to %v, want %v", port, got, tc.wk)
			}
		}
	}
	if !strings.Contains(string(must(talos.Generate(c, talos.NodeInput{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "S"}}))), "hostname: demo-cp1") {
		t.Error("hostname not set")
	}
}

// openTo lists the subnets a config's firewall lets reach port ("tcp/443"),
// sorted; nil when the port is closed.
func openTo(t *testing.T, cfg coreconfig.Provider, port string) []string {
	t.Helper()
	proto, num, _ := strings.Cut(port, "/")
	var p uint16
	fmt.Sscan(num, &p)
	var out []string
	for _, d := range cfg.Documents() {
		r, ok := d.(*network.RuleConfigV1Alpha1)
		if !ok || r.Protocol().String() != proto {
			continue
		}
		for _, pr := range r.PortRanges() {
			if pr[0] <= p && p <= pr[1] {
				for _, s := range r.Subnets() {
					out = append(out, s.String())
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		return netip.MustParsePrefix(a).Addr().Compare(netip.MustParsePrefix(b).Addr())
	})
	return out
}

func TestGenerateWithoutDNSNameOrVIP(t *testing.T) {
	c := haCluster(t)
	c.Endpoint, c.VIP, c.VLAN = "203.0.113.11", "", 0
	c.SANs = []string{"203.0.113.11"}
	cfg := parse(t, must(talos.Generate(c, talos.NodeInput{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "S"}})))
	if got := cfg.Cluster().Endpoint().String(); got != "https://203.0.113.11:6443" {
		t.Errorf("endpoint = %s", got)
	}
	k := kinds(cfg)
	if len(k[network.Layer2VIPKind]) != 0 || len(k[network.VLANKind]) != 0 {
		t.Errorf("unexpected VIP/VLAN documents: %v", k)
	}
	if got := k[network.LinkKind]; !slices.Equal(got, []string{talos.PublicLinkAlias, talos.PrivateLinkAlias}) {
		t.Errorf("links = %v, want the public and the private one", got)
	}
}

// Each kubelet mount binds the host directory at its own path into the
// kubelet container, rshared and writable, as Talos's local storage guide
// writes machine.kubelet.extraMounts; a node without any has none.
func TestKubeletMounts(t *testing.T) {
	c := haCluster(t)
	n := talos.NodeInput{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "S"}}
	if got := parse(t, must(talos.Generate(c, n))).Machine().Kubelet().ExtraMounts(); len(got) != 0 {
		t.Errorf("extra mounts without kubelet mounts: %v", got)
	}
	n.KubeletMounts = []string{"/var/lib/local-path-provisioner", "/var/lib/longhorn"}
	got := parse(t, must(talos.Generate(c, n))).Machine().Kubelet().ExtraMounts()
	if len(got) != 2 {
		t.Fatalf("extra mounts = %v, want 2", got)
	}
	for i, m := range got {
		want := n.KubeletMounts[i]
		if m.Source != want || m.Destination != want || m.Type != "bind" || !slices.Equal(m.Options, []string{"bind", "rshared", "rw"}) {
			t.Errorf("extra mount %d = %+v, want a bind,rshared,rw bind of %s", i, m, want)
		}
	}
}

func TestGenerateRefusesToGuess(t *testing.T) {
	c := haCluster(t)
	base := talos.NodeInput{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "S"}}
	cases := map[string]func(*talos.ClusterInput, *talos.NodeInput){
		"no disk identity":   func(_ *talos.ClusterInput, n *talos.NodeInput) { n.Disk = talos.Disk{DevPath: "/dev/sda"} },
		"no secrets":         func(c *talos.ClusterInput, _ *talos.NodeInput) { c.Secrets = nil },
		"private IP outside": func(_ *talos.ClusterInput, n *talos.NodeInput) { n.PrivateIP = "192.168.1.1" },
		"unknown role":       func(_ *talos.ClusterInput, n *talos.NodeInput) { n.Role = "etcd" },
	}
	for name, mutate := range cases {
		c, n := c, base
		mutate(&c, &n)
		if _, err := talos.Generate(c, n); err == nil || !strings.Contains(err.Error(), "demo-cp1") {
			t.Errorf("%s: got %v, want an error naming the node", name, err)
		}
	}
}

func TestSecretsRoundTrip(t *testing.T) {
	s, data, err := talos.NewSecrets("")
	if err != nil {
		t.Fatal(err)
	}
	back, err := talos.ParseSecrets(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Bundle.Cluster.ID != s.Bundle.Cluster.ID || back.Bundle.Secrets.BootstrapToken != s.Bundle.Secrets.BootstrapToken {
		t.Error("secrets changed in a round trip")
	}
	if _, err := talos.ParseSecrets([]byte("cluster: {id: x}\n")); err == nil {
		t.Error("an incomplete bundle was accepted")
	}
}

func TestPickInstallDisk(t *testing.T) {
	disks := []*storage.Disk{
		{DeviceName: "/dev/sr0", Type: storage.Disk_CD, Size: 1e9, Serial: "CD"},
		{DeviceName: "/dev/sdb", Type: storage.Disk_SSD, Size: 32e9, Serial: "USB1", BusPath: "/pci0000:00/usb1/1-1"},
		{DeviceName: "/dev/sda", Type: storage.Disk_HDD, Size: 4000e9, Serial: "HDD"},
		{DeviceName: "/dev/nvme0n1", Type: storage.Disk_NVME, Size: 480e9, Wwid: "eui.1"},
	}
	d, err := talos.PickInstallDisk(disks, talos.DiskWant{SizeGB: 480, Type: "NVMe"})
	if err != nil || d.WWID != "eui.1" {
		t.Errorf("plan NVMe 480: got %+v, %v", d, err)
	}
	d, err = talos.PickInstallDisk(disks, talos.DiskWant{})
	if err != nil || d.Serial != "HDD" {
		t.Errorf("any: got %+v, %v (want the first fixed disk, not CD or USB)", d, err)
	}
	if _, err := talos.PickInstallDisk(disks, talos.DiskWant{SizeGB: 960, Type: "nvme"}); err == nil {
		t.Error("a missing 960 GB NVMe was matched")
	}
	// Hetzner Cloud's plans say "local": a size with no kind of disk.
	d, err = talos.PickInstallDisk(disks, talos.DiskWant{SizeGB: 480, Type: "local"})
	if err != nil || d.WWID != "eui.1" {
		t.Errorf("plan local 480: got %+v, %v (want the 480 GB disk whatever its type)", d, err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func BenchmarkGenerate(b *testing.B) {
	s := talostest.FixedSecrets(b)
	c := talos.ClusterInput{Name: "demo", Endpoint: "203.0.113.11", VIP: "10.8.0.254", PrivateCIDR: "10.8.0.0/24", VLAN: 2085, Secrets: s}
	n := talos.NodeInput{Name: "demo-cp1", Role: talos.RoleControlPlane, PublicMAC: pubMAC, PrivateMAC: privMAC, PrivateIP: "10.8.0.11", InstallImage: installer, Disk: talos.Disk{Serial: "S"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := talos.Generate(c, n); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckVersions(t *testing.T) {
	if err := talos.CheckVersions(talos.DefaultTalosVersion, talos.DefaultKubernetesVersion); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := talos.CheckVersions("v1.13.9", "1.20.0"); err == nil || !strings.Contains(err.Error(), "--kubernetes-version") {
		t.Errorf("kubernetes 1.20 on talos 1.13: got %v, want an error naming the flag", err)
	}
	if err := talos.CheckVersions("banana", "1.36.3"); err == nil {
		t.Error("a nonsense talos version passed")
	}
}
