package talos

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/compatibility"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/container"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/types/network"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"go.yaml.in/yaml/v4"
)

// Link aliases the configs give the node's NICs: PublicLinkAlias carries
// the public address, PrivateLinkAlias the cluster's private network when
// the server has a NIC of its own for it.
const (
	PublicLinkAlias  = "public"
	PrivateLinkAlias = "private"
)

// OnlyLinkSelector selects the server's one physical link. An alias
// applies only when its selector matches exactly one link (Talos's
// LinkAliasConfigController), so it fits only servers with one NIC: the
// others are named by MAC.
const OnlyLinkSelector = `link.type == 1 && link.kind == ""`

// MACSelector selects the link with a MAC. Virtio NICs report no
// permanent address, so the hardware address counts too.
func MACSelector(mac string) string {
	return fmt.Sprintf(`mac(link.permanent_addr) == %q || mac(link.hardware_addr) == %q`, mac, mac)
}

// ClusterInput is what every node's config shares.
type ClusterInput struct {
	Name              string
	TalosVersion      string // default DefaultTalosVersion
	KubernetesVersion string // default DefaultKubernetesVersion
	// Endpoint is the Kubernetes API's host (DNS name or IP) as clients use it.
	Endpoint string
	// SANs are extra certificate names: DNS name, VIP, control-plane IPs.
	SANs []string
	// VIP is the Layer2 virtual IP on the private VLAN (control planes only);
	// empty for fewer than three control planes.
	VIP string
	// PrivateCIDR is the cluster's VLAN range, e.g. 10.8.0.0/24.
	PrivateCIDR string
	// VLAN is the 802.1Q id to tag; 0 puts the private address on the NIC itself.
	VLAN int
	// PrivateDHCP: the provider hands out the private addresses by DHCP
	// (Hetzner Cloud's routed networks, where a static on-link prefix
	// carries no traffic).
	PrivateDHCP bool
	// PrivateMTU is the private link's MTU, 0 for the link's own (1400 on
	// a Hetzner Robot vSwitch).
	PrivateMTU int
	// SchedulingOnControlPlanes lets workloads run on the control planes:
	// a cluster without workers has nowhere else to run them.
	SchedulingOnControlPlanes bool
	// PrivateLinkSelector is a CEL expression selecting the private NIC
	// when the provider reports no MAC for it.
	PrivateLinkSelector string
	Secrets             *Secrets
}

// Disk is the install disk as the node reported it in maintenance mode.
type Disk struct {
	DevPath string
	Serial  string
	WWID    string
	SizeGB  float64
}

// NodeInput is what differs per node.
type NodeInput struct {
	Name      string
	Role      string // RoleControlPlane | RoleWorker
	PrivateIP string
	// GPU nodes load the NVIDIA modules and carry GPULabel.
	GPU bool
	// GPUTaint keeps pods off a GPU node unless they tolerate GPUTaintKey.
	GPUTaint bool
	// InstallImage is the factory installer of the node's schematic.
	InstallImage string
	Disk         Disk
	// PublicMAC and PrivateMAC are the MACs of the NICs that carry the
	// public address and the private network, as the provider reports
	// them ("" when it does not).
	PublicMAC, PrivateMAC string
	// PublicAddress (address/prefix) and PublicGateway address the public
	// link statically, for providers that hand out no DHCP; empty: DHCP.
	PublicAddress, PublicGateway string
	// KubeletMounts are host directories the node's pods use that the
	// kubelet container sees only when bound in (machine.kubelet.extraMounts).
	KubeletMounts []string
}

// GPU nodes are labelled GPULabel=true, the label the NVIDIA GPU
// operator and device plugin select nodes by, and tainted
// GPUTaintKey=GPUTaintValue:NoSchedule when the user asks, the taint the
// NVIDIA charts tolerate by default.
const (
	GPULabel      = "nvidia.com/gpu.present"
	GPUTaintKey   = "nvidia.com/gpu"
	GPUTaintValue = "present"
)

// podCIDR is the library's default pod network; the firewall admits it to
// the kubelet (metrics) and Cilium's health port.
const podCIDR = "10.244.0.0/16"

// EndpointURL is the Kubernetes API URL for a host.
func EndpointURL(host string) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(KubernetesPort))
}

// Generate renders, validates and encodes one node's machine config.
func Generate(c ClusterInput, n NodeInput) ([]byte, error) {
	if c.Secrets == nil {
		return nil, fmt.Errorf("config of %s: no secrets bundle (it must be loaded from the cluster's folder)", n.Name)
	}
	talosVersion := cmp.Or(c.TalosVersion, DefaultTalosVersion)
	vc, err := contract(talosVersion)
	if err != nil {
		return nil, err
	}
	var mtype machine.Type
	switch n.Role {
	case RoleControlPlane:
		mtype = machine.TypeControlPlane
	case RoleWorker:
		mtype = machine.TypeWorker
	default:
		return nil, fmt.Errorf("config of %s: unknown role %q", n.Name, n.Role)
	}
	privCIDR, err := netip.ParsePrefix(c.PrivateCIDR)
	if err != nil {
		return nil, fmt.Errorf("config of %s: private range %q: %v", n.Name, c.PrivateCIDR, err)
	}
	privIP, err := netip.ParseAddr(n.PrivateIP)
	if err != nil || !privCIDR.Contains(privIP) {
		return nil, fmt.Errorf("config of %s: private address %q is not in %s", n.Name, n.PrivateIP, c.PrivateCIDR)
	}
	if n.InstallImage == "" {
		return nil, fmt.Errorf("config of %s: no install image", n.Name)
	}
	if n.Disk.Serial == "" && n.Disk.WWID == "" {
		return nil, fmt.Errorf("config of %s: install disk %q has neither serial nor WWID; refusing to guess a disk", n.Name, n.Disk.DevPath)
	}

	opts := []generate.Option{
		generate.WithSecretsBundle(c.Secrets.Bundle),
		generate.WithVersionContract(vc),
		generate.WithAdditionalSubjectAltNames(c.SANs),
		generate.WithInstallImage(n.InstallImage),
		generate.WithClusterCNIConfig(&v1alpha1.CNIConfig{CNIName: "none"}),
		generate.WithKubePrismPort(KubePrismPort),
		generate.WithAllowSchedulingOnControlPlanes(c.SchedulingOnControlPlanes),
	}
	k8sVersion := strings.TrimPrefix(cmp.Or(c.KubernetesVersion, DefaultKubernetesVersion), "v")
	if err := CheckVersions(talosVersion, k8sVersion); err != nil {
		return nil, err
	}
	in, err := generate.NewInput(c.Name, EndpointURL(c.Endpoint), k8sVersion, opts...)
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", n.Name, err)
	}
	base, err := in.Config(mtype)
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", n.Name, err)
	}

	raw := base.RawV1Alpha1()
	m, cl := raw.MachineConfig, raw.ClusterConfig
	// Select the disk by what identifies it, never by a device name that can
	// change between boots.
	m.MachineInstall.InstallDisk = ""
	m.MachineInstall.InstallDiskSelector = &v1alpha1.InstallDiskSelector{Serial: n.Disk.Serial, WWID: n.Disk.WWID}
	if n.Disk.WWID != "" {
		m.MachineInstall.InstallDiskSelector.Serial = ""
	}
	// Kubernetes and etcd talk over the private VLAN.
	m.MachineKubelet.KubeletNodeIP = &v1alpha1.KubeletNodeIPConfig{KubeletNodeIPValidSubnets: []string{c.PrivateCIDR}}
	m.MachineKubelet.KubeletExtraMounts = kubeletMounts(n.KubeletMounts)
	cl.ProxyConfig = &v1alpha1.ProxyConfig{Disabled: new(true)}
	if mtype == machine.TypeControlPlane {
		if cl.EtcdConfig == nil {
			cl.EtcdConfig = &v1alpha1.EtcdConfig{}
		}
		cl.EtcdConfig.EtcdAdvertisedSubnets = []string{c.PrivateCIDR}
	}
	if n.GPU {
		gpuNode(m, n.GPUTaint)
	} else if n.GPUTaint {
		return nil, fmt.Errorf("config of %s: a GPU taint on a node without GPUs", n.Name)
	}

	var docs []config.Document
	for _, d := range base.Documents() {
		if d.Kind() == network.HostnameKind {
			continue // replaced by the node's own name below
		}
		docs = append(docs, d)
	}
	baseProvider, err := container.New(docs...)
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", n.Name, err)
	}
	baseYAML, err := baseProvider.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", n.Name, err)
	}
	extra, err := extraDocuments(c, n, privCIDR, mtype == machine.TypeControlPlane)
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", n.Name, err)
	}
	out := slices.Concat(baseYAML, []byte("---\n"), extra)
	full, err := configloader.NewFromBytes(out)
	if err != nil {
		return nil, fmt.Errorf("config of %s does not parse: %w", n.Name, err)
	}
	if err := Validate(full); err != nil {
		return nil, fmt.Errorf("config of %s: %w", n.Name, err)
	}
	// The documents as written, once they parse and validate: encoding
	// the parsed config again would cost as much as everything above.
	return out, nil
}

// gpuNode configures a GPU node as Talos's NVIDIA guide does: the NVIDIA
// modules loaded and net.core.bpf_jit_harden at 1; the container toolkit
// extension registers containerd's "nvidia" runtime by itself. The label
// lets GPU components find the node. The taint goes in at registration
// (kubelet registerWithTaints): a worker's machined updates its Node with
// the kubelet's credentials, and the NodeRestriction admission plugin
// forbids a kubelet to change taints after that, so machine.nodeTaints
// would never reach a worker's Node.
func gpuNode(m *v1alpha1.MachineConfig, taint bool) {
	m.MachineKernel = &v1alpha1.KernelConfig{}
	for _, mod := range GPUKernelModules {
		m.MachineKernel.KernelModules = append(m.MachineKernel.KernelModules, &v1alpha1.KernelModuleConfig{ModuleName: mod})
	}
	if m.MachineSysctls == nil {
		m.MachineSysctls = map[string]string{}
	}
	m.MachineSysctls["net.core.bpf_jit_harden"] = "1"
	if m.MachineNodeLabels == nil {
		m.MachineNodeLabels = map[string]string{}
	}
	m.MachineNodeLabels[GPULabel] = "true"
	if taint {
		if m.MachineKubelet == nil {
			m.MachineKubelet = &v1alpha1.KubeletConfig{}
		}
		if m.MachineKubelet.KubeletExtraConfig.Object == nil {
			m.MachineKubelet.KubeletExtraConfig.Object = map[string]any{}
		}
		m.MachineKubelet.KubeletExtraConfig.Object["registerWithTaints"] = []any{
			map[string]any{"key": GPUTaintKey, "value": GPUTaintValue, "effect": "NoSchedule"},
		}
	}
}

// kubeletMounts binds host directories into the kubelet container at the
// same path, as Talos's local storage guide does: rshared, so mounts a
// pod makes below them with Bidirectional propagation reach the kubelet.
func kubeletMounts(dirs []string) []v1alpha1.ExtraMount {
	var out []v1alpha1.ExtraMount
	for _, d := range dirs {
		out = append(out, v1alpha1.ExtraMount{Destination: d, Type: "bind", Source: d, Options: []string{"bind", "rshared", "rw"}})
	}
	return out
}

// CheckVersions reports a Kubernetes version the Talos version cannot run.
func CheckVersions(talosVersion, kubernetesVersion string) error {
	tv, err := compatibility.ParseTalosVersion(&machineapi.VersionInfo{Tag: "v" + strings.TrimPrefix(talosVersion, "v")})
	if err != nil {
		return fmt.Errorf("talos version %q: %v", talosVersion, err)
	}
	kv, err := compatibility.ParseKubernetesVersion(strings.TrimPrefix(kubernetesVersion, "v"))
	if err != nil {
		return fmt.Errorf("kubernetes version %q: %v", kubernetesVersion, err)
	}
	if err := kv.SupportedWith(tv); err != nil {
		return fmt.Errorf("kubernetes %s on talos %s: %v; pick another --kubernetes-version", kubernetesVersion, talosVersion, err)
	}
	return nil
}

// metalMode is the runtime the configs are for: bare metal, installed to disk.
type metalMode struct{}

func (metalMode) String() string        { return "metal" }
func (metalMode) RequiresInstall() bool { return true }
func (metalMode) InContainer() bool     { return false }

// Validate runs the library's validator over a config as a metal node
// would, warnings included.
func Validate(c coreconfig.Provider) error {
	if _, err := c.Validate(metalMode{}); err != nil {
		return fmt.Errorf("invalid machine config: %w", err)
	}
	return nil
}

// ParseConfig reads a machine config and validates it.
func ParseConfig(data []byte) (coreconfig.Provider, error) {
	c, err := configloader.NewFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("machine config does not parse: %w", err)
	}
	if err := Validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

type doc = map[string]any

// extraDocuments are the multi-document parts: hostname, the links (and
// VIP), and the ingress firewall.
func extraDocuments(c ClusterInput, n NodeInput, privCIDR netip.Prefix, controlPlane bool) ([]byte, error) {
	docs := []doc{{"apiVersion": "v1alpha1", "kind": "HostnameConfig", "hostname": n.Name, "auto": "off"}}
	links, privateLink, err := linkDocuments(c, n, privCIDR)
	if err != nil {
		return nil, err
	}
	docs = append(docs, links...)
	if controlPlane && c.VIP != "" {
		docs = append(docs, doc{"apiVersion": "v1alpha1", "kind": "Layer2VIPConfig", "name": c.VIP, "link": privateLink})
	}
	docs = append(docs, firewall(c, controlPlane)...)

	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(4) // as the library writes the documents before these
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// firewall blocks ingress by default and opens what Talos, Kubernetes and
// Cilium need. To everyone: the APIs that authenticate every call (apid;
// on control planes trustd, with the cluster's token, and the Kubernetes
// API) and HTTP(S) for the ingress controller. To the cluster's private range and pod range only:
// the kubelet, etcd and Cilium, which talk over the private network (pod
// traffic between nodes rides Cilium's VXLAN).
//
// trustd is open because a joining node asks for its certificate at the
// cluster endpoint, a public address, from its own public address, which a
// control plane configured earlier cannot know: a server ordered later, a
// replacement, or a node added by a later deploy. Listing the public
// addresses would also make every config grow with the cluster.
func firewall(c ClusterInput, controlPlane bool) []doc {
	anywhere := []doc{{"subnet": "0.0.0.0/0"}, {"subnet": "::/0"}}
	cluster := []doc{{"subnet": c.PrivateCIDR}, {"subnet": podCIDR}}
	rule := func(name, proto string, ports []any, from []doc) doc {
		return doc{
			"apiVersion": "v1alpha1", "kind": "NetworkRuleConfig", "name": name,
			"portSelector": doc{"ports": ports, "protocol": proto},
			"ingress":      from,
		}
	}
	// apid and the ingress controller on every node; trustd and the
	// Kubernetes API on control planes, which run them.
	public := []any{APIPort, 80, 443}
	// The kubelet, Cilium's health checks and Hubble's peer service; etcd's
	// client and peer ports on control planes.
	private := []any{KubeletPort, CiliumHealthPort, HubblePort}
	if controlPlane {
		public = append(public, TrustdPort, KubernetesPort)
		private = append(private, "2379-2380")
	}
	return []doc{
		{"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig", "ingress": "block"},
		rule("public-ingress", "tcp", public, anywhere),
		rule("cluster-tcp-ingress", "tcp", private, cluster),
		rule("cluster-udp-ingress", "udp", []any{CiliumVXLANPort}, cluster),
	}
}

// linkDocuments address every link the node needs, and return the name of
// the link that carries the private address. Any link document turns off
// the DHCP Talos otherwise runs on every physical link
// (Container.RunDefaultDHCPOperators), so the public link is addressed
// too: by DHCP, or statically from what the provider reports.
func linkDocuments(c ClusterInput, n NodeInput, privCIDR netip.Prefix) (docs []doc, privateLink string, err error) {
	publicSel := OnlyLinkSelector
	switch {
	case n.PublicMAC != "":
		publicSel = MACSelector(n.PublicMAC)
	case n.PrivateMAC != "":
		// The provider names only the private NIC (Hetzner Cloud): the
		// public one is the other physical link.
		publicSel = "!(" + MACSelector(n.PrivateMAC) + ")"
	}
	public := doc{"apiVersion": "v1alpha1", "kind": "LinkConfig", "name": PublicLinkAlias, "up": true}
	docs = append(docs, doc{"apiVersion": "v1alpha1", "kind": "LinkAliasConfig", "name": PublicLinkAlias, "selector": doc{"match": publicSel}}, public)
	if n.PublicAddress != "" {
		addr, err := netip.ParsePrefix(n.PublicAddress)
		if err != nil {
			return nil, "", fmt.Errorf("public address %q: want address/prefix: %v", n.PublicAddress, err)
		}
		gw, err := netip.ParseAddr(n.PublicGateway)
		if err != nil {
			return nil, "", fmt.Errorf("public gateway %q: %v", n.PublicGateway, err)
		}
		public["addresses"] = []doc{{"address": addr.String()}}
		public["routes"] = []doc{{"gateway": gw.String()}}
	} else {
		docs = append(docs, doc{"apiVersion": "v1alpha1", "kind": "DHCPv4Config", "name": PublicLinkAlias})
	}

	// The private network rides a NIC of its own when the server has one,
	// else the public NIC (a Hetzner Robot vSwitch is a VLAN on it).
	parent := PublicLinkAlias
	privateSel := c.PrivateLinkSelector
	if n.PrivateMAC != "" && n.PrivateMAC != n.PublicMAC {
		privateSel = MACSelector(n.PrivateMAC)
	}
	if privateSel != "" {
		parent = PrivateLinkAlias
		docs = append(docs, doc{"apiVersion": "v1alpha1", "kind": "LinkAliasConfig", "name": PrivateLinkAlias, "selector": doc{"match": privateSel}})
	}
	private := doc{"apiVersion": "v1alpha1", "up": true}
	if c.PrivateMTU > 0 {
		private["mtu"] = c.PrivateMTU
	}
	addr := netip.PrefixFrom(netip.MustParseAddr(n.PrivateIP), privCIDR.Bits()).String()
	if !c.PrivateDHCP {
		private["addresses"] = []doc{{"address": addr}}
	}
	privateLink = parent
	switch {
	case c.VLAN > 0:
		privateLink = fmt.Sprintf("%s.%d", parent, c.VLAN)
		private["kind"], private["name"], private["vlanID"], private["parent"] = "VLANConfig", privateLink, c.VLAN, parent
		if parent == PrivateLinkAlias {
			docs = append(docs, doc{"apiVersion": "v1alpha1", "kind": "LinkConfig", "name": PrivateLinkAlias, "up": true})
		}
		docs = append(docs, private)
	case parent == PrivateLinkAlias:
		private["kind"], private["name"] = "LinkConfig", PrivateLinkAlias
		docs = append(docs, private)
	default:
		// No NIC and no VLAN of its own: the private address sits on the
		// public link next to the public one.
		if c.PrivateDHCP {
			return nil, "", errors.New("the private network hands out its addresses by DHCP, but the provider reports no NIC for it")
		}
		existing, _ := public["addresses"].([]doc)
		public["addresses"] = append(existing, doc{"address": addr})
	}
	if c.PrivateDHCP {
		docs = append(docs, doc{"apiVersion": "v1alpha1", "kind": "DHCPv4Config", "name": privateLink})
	}
	return docs, privateLink, nil
}
