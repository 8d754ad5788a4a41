package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/talostest"
	"github.com/cto-platform/cto/test/kubeenv"
)

// A node's kubelet reports the Talos it runs and the kubelet image of its
// config: an upgrade to a version the factory serves reboots it (its
// kubelet stopped meanwhile) into the new Talos, and a kubelet image
// applied over mutual TLS changes the kubelet's version without one.
func TestKubeletReportsTheVersionsTheNodeRuns(t *testing.T) {
	const next = "v1.13.10"
	s, env := startSim(t, Options{Kube: kubeenv.Require(t), TalosVersions: []string{next}, Logf: t.Logf})
	schematic := registerSchematic(t, s)
	api := func(method, path string, attrs map[string]any) map[string]any {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"data": map[string]any{"type": strings.TrimPrefix(path, "/"), "attributes": attrs}})
		return call(t, method, env["LATITUDESH_API_URL"]+path, env["LATITUDESH_AUTH_TOKEN"], bytes.NewReader(body))
	}
	proj := api("POST", "/projects", map[string]any{"name": "p"})["data"].(map[string]any)["id"].(string)
	api("POST", "/servers", map[string]any{"project": proj, "plan": "c2-small-x86", "site": "DAL", "operating_system": "ipxe",
		"hostname": "cp1", "ipxe": env["CTO_IMAGE_FACTORY_URL"] + "/pxe/" + schematic + "/" + talos.DefaultTalosVersion + "/metal-amd64"})
	s.Latitude().Advance(10 * time.Minute)
	api("GET", "/servers", nil)
	n := s.Node("cp1")
	if n == nil {
		t.Fatal("no node")
	}
	ip := strings.TrimSuffix(n.Addr(), ":50000")
	var serial string
	for _, d := range n.Disks {
		if d.Serial != "CDROM" {
			serial = d.Serial
			break
		}
	}
	var publicMAC, privateMAC string
	for _, nic := range latfake.Interfaces(s.Latitude().State().Servers[0].ID) {
		switch nic.Role {
		case "external":
			publicMAC = nic.MAC
		case "internal":
			privateMAC = nic.MAC
		}
	}
	secrets := talostest.FixedSecrets(t)
	factory := talos.Factory{URL: env["CTO_IMAGE_FACTORY_URL"]}
	config := func(kubernetes string) []byte {
		out, err := talos.Generate(talos.ClusterInput{Name: "demo", Endpoint: ip, PrivateCIDR: "10.8.0.0/24", Secrets: secrets, KubernetesVersion: kubernetes},
			talos.NodeInput{Name: "cp1", Role: talos.RoleControlPlane, PrivateIP: "10.8.0.11", PublicMAC: publicMAC, PrivateMAC: privateMAC, InstallImage: factory.Images(schematic, talos.DefaultTalosVersion).Installer(),
				Disk: talos.Disk{Serial: serial}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	data, err := talos.Talosconfig(secrets, "demo", []string{ip})
	if err != nil {
		t.Fatal(err)
	}
	tcfg, err := talos.ParseTalosconfig(data)
	if err != nil {
		t.Fatal(err)
	}
	c := &talos.Client{Talosconfig: tcfg, CallTimeout: 2 * time.Second}
	ctx := context.Background()
	if err := c.Apply(ctx, n.Addr(), config(""), time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the node runs its config", func() bool { return c.Probe(ctx, n.Addr()) == talos.Configured })
	if p := n.Network().Problems; len(p) > 0 {
		t.Fatalf("network problems: %v", p)
	}
	if err := c.Bootstrap(ctx, n.Addr()); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kube().Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	info := func() corev1.NodeSystemInfo {
		node, err := kube.CoreV1().Nodes().Get(ctx, "cp1", metav1.GetOptions{})
		if err != nil {
			return corev1.NodeSystemInfo{}
		}
		return node.Status.NodeInfo
	}
	eventually(t, "the kubelet registers with the versions it booted", func() bool {
		i := info()
		return i.OSImage == "Talos ("+talos.DefaultTalosVersion+")" && i.KubeletVersion == "v"+talos.DefaultKubernetesVersion
	})

	eventually(t, "etcd runs", func() bool { m, err := c.EtcdMembers(ctx, n.Addr()); return err == nil && m == 1 })
	tc, err := client.New(ctx, client.WithConfig(tcfg), client.WithEndpoints(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.UpgradeWithOptions(ctx, client.WithUpgradeImage(factory.Images(schematic, next).Installer())); err != nil {
		t.Fatal(err)
	}
	if st := s.Nodes()[0]; !st.Rebooting {
		t.Errorf("node state right after the upgrade call: %+v, want rebooting", st)
	}
	if l := s.Etcd().QuorumLosses(); len(l) != 1 {
		t.Errorf("quorum losses = %v, want the single member's reboot", l)
	}
	eventually(t, "the kubelet reports the new Talos", func() bool { return info().OSImage == "Talos ("+next+")" })
	if st := s.Nodes()[0]; st.TalosVersion != next || st.Rebooting {
		t.Errorf("node state after the upgrade: %+v", st)
	}

	eventually(t, "the node answers again", func() bool { return c.Probe(ctx, n.Addr()) == talos.Configured })
	tc2, err := client.New(ctx, client.WithConfig(tcfg), client.WithEndpoints(n.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer tc2.Close()
	resp, err := tc2.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: config("1.35.2"), Mode: machine.ApplyConfigurationRequest_AUTO})
	if err != nil {
		t.Fatal(err)
	}
	if m := resp.GetMessages()[0].GetMode(); m != machine.ApplyConfigurationRequest_NO_REBOOT {
		t.Errorf("apply mode = %s, want NO_REBOOT", m)
	}
	eventually(t, "the kubelet reports its new version", func() bool { return info().KubeletVersion == "v1.35.2" })
}

// eventually waits up to 20 s of wall time for ok.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}
