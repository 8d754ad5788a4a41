package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cto-platform/cto/test/sim"
)

func TestHetznerCloudThreeControlPlanes(t *testing.T) {
	w := newWorld(t, sim.Options{})
	w.MustRun("deploy", "--provider", "hetzner", "--name", "hc", "--plan", "cx23", "--region", "fsn1",
		"--nodes", "3", "--control-planes", "3", "--profile", "standard", "--yes")
	w.checkPlatform("hc", "standard", 3, 3)
	st := w.Sim.State().Hetzner
	if len(st.Servers) != 3 {
		t.Errorf("Hetzner Cloud has %d servers, want 3", len(st.Servers))
	}
	for _, s := range st.Servers {
		if s.Status != "running" || s.Labels["cto.cluster"] != "hc" || !strings.HasPrefix(s.Booted, "iso:talos") {
			t.Errorf("server %s: %s, labels %v, booted %q; want running Talos, labelled hc", s.Name, s.Status, s.Labels, s.Booted)
		}
		if s.ISO != nil {
			t.Errorf("server %s still has the ISO %s attached: its next boot would not start the installed Talos", s.Name, s.ISO.Name)
		}
	}
	if len(st.Networks) != 1 || len(st.PlacementGroups) != 1 || len(st.LoadBalancers) != 1 {
		t.Fatalf("Hetzner Cloud has %d networks, %d placement groups, %d load balancers; want one of each",
			len(st.Networks), len(st.PlacementGroups), len(st.LoadBalancers))
	}
	// The load balancer is the API endpoint, in every control plane's
	// certificate; no VIP (Hetzner's networks are routed, not layer 2).
	lb := st.LoadBalancers[0].PublicNet.IPv4.IP
	for i := 1; i <= 3; i++ {
		cfg := configOf(t, w, fmt.Sprintf("hc-cp%d", i))
		if !strings.Contains(cfg, "endpoint: https://"+lb+":6443") || !strings.Contains(cfg, "- "+lb) || strings.Contains(cfg, "Layer2VIPConfig") {
			t.Errorf("hc-cp%d: want endpoint and SAN %s and no VIP:\n%s", i, lb, cfg)
		}
	}
	// The kubeconfig reaches the API through the load balancer.
	if kc, err := os.ReadFile(w.ClusterFile("hc", "kubeconfig")); err != nil || !strings.Contains(string(kc), "server: https://"+lb+":6443") {
		t.Errorf("the kubeconfig does not name the load balancer %s: %v\n%s", lb, err, kc)
	}
	for _, s := range st.Servers {
		// Hetzner's networks are routed: each node takes the address
		// Hetzner assigned by DHCP on its private NIC, named by its MAC.
		cfg := configOf(t, w, s.Name)
		if len(s.PrivateNet) != 1 || !strings.Contains(cfg, s.PrivateNet[0].MACAddress) || !strings.Contains(cfg, "kind: DHCPv4Config\nname: private") {
			t.Errorf("%s: its config does not take Hetzner's private address %+v by DHCP on its NIC:\n%s", s.Name, s.PrivateNet, cfg)
		}
		found := false
		if n := w.Sim.Node(s.Name); n != nil {
			for _, addrs := range n.Network().Addresses {
				for _, a := range addrs {
					found = found || a.Addr().String() == s.PrivateNet[0].IP
				}
			}
		}
		if !found {
			t.Errorf("%s: the node does not have Hetzner's private address %s", s.Name, s.PrivateNet[0].IP)
		}
	}

	w.destroyHetzner("hc")
}

func TestHetznerCloudBuildsASnapshotWithoutISO(t *testing.T) {
	w := newWorld(t, sim.Options{HetznerNoTalosISO: true})
	w.MustRun("deploy", "--provider", "hetzner", "--name", "hs", "--plan", "cx23", "--region", "fsn1",
		"--nodes", "1", "--profile", "minimal", "--yes")
	w.checkPlatform("hs", "minimal", 1, 1)
	st := w.Sim.State().Hetzner
	if len(st.Images) != 1 || st.Images[0].Labels["cto.image"] != "talos" || st.Images[0].Labels["cto.cluster"] != "hs" {
		t.Fatalf("images = %+v, want the Talos snapshot hs built", st.Images)
	}
	if len(st.Servers) != 1 || st.Servers[0].Booted != fmt.Sprintf("image:%d", st.Images[0].ID) {
		t.Fatalf("servers = %+v, want hs-cp1 alone, booted from the snapshot (the builder gone)", st.Servers)
	}

	w.destroyHetzner("hs")
}

// destroyHetzner destroys a Hetzner Cloud cluster and checks nothing of it
// is left: no server, network, placement group, load balancer or snapshot.
func (w *world) destroyHetzner(name string) {
	t := w.T
	t.Helper()
	w.MustRun("destroy", "--name", name, "--yes")
	st := w.Sim.State().Hetzner
	if len(st.Servers)+len(st.Networks)+len(st.PlacementGroups)+len(st.LoadBalancers)+len(st.Images) != 0 {
		t.Errorf("after destroy Hetzner Cloud has %d servers, %d networks, %d placement groups, %d load balancers, %d snapshots",
			len(st.Servers), len(st.Networks), len(st.PlacementGroups), len(st.LoadBalancers), len(st.Images))
	}
}

func TestVultrStandardThreeNodes(t *testing.T) {
	w := newWorld(t, sim.Options{})
	w.MustRun("deploy", "--provider", "vultr", "--name", "vu", "--plan", "vbm-4c-32gb", "--region", "ewr",
		"--nodes", "3", "--profile", "standard", "--yes")
	w.checkPlatform("vu", "standard", 3, 1)
	st := w.Sim.State().Vultr
	if len(st.BareMetals) != 3 {
		t.Errorf("Vultr has %d bare metals, want 3", len(st.BareMetals))
	}
	for _, s := range st.BareMetals {
		if s.Status != "active" || !contains(s.Tags, "cto.cluster=vu") {
			t.Errorf("bare metal %s: %s, tags %v; want active, tagged cto.cluster=vu", s.Label, s.Status, s.Tags)
		}
	}

	w.MustRun("destroy", "--name", "vu", "--yes")
	st = w.Sim.State().Vultr
	if len(st.BareMetals)+len(st.VPCs) != 0 {
		t.Errorf("after destroy Vultr has %d bare metals, %d VPCs", len(st.BareMetals), len(st.VPCs))
	}
}

// configOf is the machine config a node runs.
func configOf(t *testing.T, w *world, hostname string) string {
	t.Helper()
	n := w.Sim.Node(hostname)
	if n == nil || n.Config() == nil {
		t.Fatalf("%s has no config", hostname)
	}
	doc, err := n.Config().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

func TestHetznerRobotAdoptsThreeServers(t *testing.T) {
	w := newWorld(t, sim.Options{})
	servers := w.Sim.RobotServers()
	w.MustRun("deploy", "--provider", "hetzner-robot", "--name", "hr", "--servers", strings.Join(servers, ","),
		"--profile", "standard", "--yes")
	w.checkPlatform("hr", "standard", 3, 1)
	// Pod traffic between nodes rides VXLAN over the vSwitch: Cilium takes
	// its MTU of 1400, not the public link's.
	if mtu := ciliumMTU(t, w, "hr"); mtu != "1400" {
		t.Errorf("cilium-config mtu = %q, want the vSwitch's 1400", mtu)
	}
	st := w.Sim.State().Robot
	if len(st.Servers) != 3 || len(st.VSwitches) != 1 {
		t.Fatalf("Robot has %d servers and %d vSwitches, want 3 and 1", len(st.Servers), len(st.VSwitches))
	}
	for _, s := range st.Servers {
		if !strings.HasPrefix(s.Name, "cto:hr:") || s.Booted != "talos" || len(s.Written) != 1 {
			t.Errorf("server %d: name %q, booted %q, written %v; want tagged for hr, running the Talos image written once", s.Number, s.Name, s.Booted, s.Written)
		}
		if st.VSwitches[0].Members[s.Number] != "ready" {
			t.Errorf("server %d is not on the cluster's vSwitch: %+v", s.Number, st.VSwitches[0])
		}
	}

	r := w.MustRun("destroy", "--name", "hr", "--yes")
	if !strings.Contains(r.Stdout+r.Stderr, "still rented") {
		t.Errorf("destroy does not say the servers are still rented:\n%s%s", r.Stdout, r.Stderr)
	}
	st = w.Sim.State().Robot
	if len(st.Servers) != 3 {
		t.Fatalf("Robot has %d servers after destroy, want the 3 rented ones", len(st.Servers))
	}
	for _, s := range st.Servers {
		if s.Cancelled || s.Cancellations != 0 || s.Name != "cto-released" || !(s.RescueActive || s.Booted == "rescue") {
			t.Errorf("server %d after destroy: name %q, cancelled %v (%d requests), rescue %v, booted %q; want released into rescue, not cancelled",
				s.Number, s.Name, s.Cancelled, s.Cancellations, s.RescueActive, s.Booted)
		}
	}
	for _, v := range st.VSwitches {
		if !v.Cancelled || len(v.Members) != 0 {
			t.Errorf("vSwitch %d after destroy: cancelled %v, members %v; want cancelled and empty", v.ID, v.Cancelled, v.Members)
		}
	}
}

// ciliumMTU reads the MTU Cilium was installed with (its cilium-config).
func ciliumMTU(t *testing.T, w *world, cluster string) string {
	t.Helper()
	cm, err := w.Kube(cluster).CoreV1().ConfigMaps("kube-system").Get(context.Background(), "cilium-config", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("cilium-config: %v", err)
	}
	return cm.Data["mtu"]
}
