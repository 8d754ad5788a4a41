package sim

import (
	"context"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config/config"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
	"github.com/cto-platform/cto/internal/talos"
	talosfake "github.com/cto-platform/cto/internal/talos/fake"
	"github.com/cto-platform/cto/test/kubeenv"
)

// play runs the kubelets of the configured nodes until ctx ends; the
// cluster's controllers run on their own (controllers.Start).
func (s *Sim) play(ctx context.Context) {
	defer close(s.playDone)
	var kube kubernetes.Interface
	if cfg, err := clientcmd.BuildConfigFromFlags("", s.kube.Kubeconfig); err == nil {
		cfg.QPS, cfg.Burst = 200, 400
		kube, _ = kubernetes.NewForConfig(cfg)
	}
	for {
		if kube != nil {
			s.kubelets(ctx, kube)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(kubeletInterval):
		}
	}
}

// kubeletInterval is how often the simulated kubelets look at their nodes
// (wall time).
const kubeletInterval = 50 * time.Millisecond

// kubelets registers a Node object for each configured Talos node once
// etcd runs, NotReady until the CNI (the cilium agent DaemonSet) exists;
// then KWOK runs the node as a healthy kubelet would: Ready, its Lease
// renewed, the pods bound to it Running. A node whose server stops goes
// NotReady, as its kubelet stops renewing. KWOK takes on or lets go of a
// node only when it is added or deleted, so each change registers the
// Node anew (its pods go with it, sooner than a real node's eviction).
func (s *Sim) kubelets(ctx context.Context, kube kubernetes.Interface) {
	nodes := s.Nodes()
	started := false
	for _, n := range nodes {
		started = started || (n.Bootstrapped && n.Running)
	}
	if !started {
		return
	}
	cni := false
	if list, err := kube.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range list.Items {
			cni = cni || d.Name == "cilium"
		}
	}
	// A reinstalled server's hostname has a past node too; the running
	// one is the kubelet.
	running := map[string]bool{}
	for _, n := range nodes {
		running[n.Hostname] = running[n.Hostname] || n.Running
	}
	for _, n := range nodes {
		if !n.Running {
			if n.Configured && !running[n.Hostname] {
				s.kubeletGone(ctx, kube, n, false)
			}
			continue
		}
		if n.Rebooting || n.Halted || !n.Configured {
			// The kubelet stops with the machine: a reboot (an upgrade, a
			// reset, a config applied with a reboot), a reset that powered
			// it off, a node wiped back to maintenance mode. Talos cordons
			// the node first while it upgrades or resets
			// (NodeCordonedSpecController, v1.13) and uncordons it once it
			// runs again; it never deletes the Node object.
			if s.kubeletRan(n.Hostname) {
				s.kubeletGone(ctx, kube, n, n.Rebooting || n.Halted)
			}
			continue
		}
		tn := s.Node(n.Hostname)
		if tn == nil || tn.Network().KubeletProblem != "" {
			continue // the kubelet has no address to register with
		}
		if n.Role == "worker" && !s.endpointResolves(tn) {
			continue // the worker cannot find the API server yet
		}
		s.kubelet(ctx, kube, n, tn, cni)
	}
	s.syncStaticPods(ctx, kube, nodes)
}

func (s *Sim) kubelet(ctx context.Context, kube kubernetes.Interface, n NodeState, tn *talosfake.Node, cni bool) {
	api := kube.CoreV1().Nodes()
	node, err := api.Get(ctx, n.Hostname, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		reg := s.registration(n.Hostname, tn)
		// The kubelet registers its Node with the status it computed
		// (kubelet_node_status.go, initialNode and setNodeStatus), so
		// nothing it writes later races KWOK, which keeps the addresses
		// and capacity it finds.
		reg.Status = s.nodeStatus(n, tn, corev1.ConditionFalse, "KubeletNotReady")
		// A real Node object outlives its kubelet's restarts, and with it a
		// cordon someone set before the machine went down; Talos lifts
		// only the cordon it set itself for an upgrade or reset
		// (NodeCordonedSpecController). KWOK needs the Node registered
		// anew, so the cordon is carried over.
		s.mu.Lock()
		reg.Spec.Unschedulable = s.cordonedBefore[n.Hostname]
		s.mu.Unlock()
		if cni {
			// The network is up: KWOK runs the node from its first sight
			// of it (it takes on a node only when one is added).
			reg.Annotations = map[string]string{kubeenv.KWOKNodeAnnotation: "fake"}
		}
		if _, err := api.Create(ctx, reg, metav1.CreateOptions{}); err == nil {
			s.setKubeletRan(n.Hostname, true)
		}
		return
	}
	if err == nil && cni && node.Annotations[kubeenv.KWOKNodeAnnotation] == "" {
		// The kubelet registers anew with the network up, for KWOK.
		api.Delete(ctx, n.Hostname, metav1.DeleteOptions{})
		return
	}
	if err == nil {
		// A kubelet restarted on a new image, or a node rebooted into a
		// new Talos, reports its versions anew.
		s.setKubeletRan(n.Hostname, true)
		want := s.nodeStatus(n, nil, corev1.ConditionTrue, "").NodeInfo
		if node.Status.NodeInfo.OSImage != want.OSImage || node.Status.NodeInfo.KubeletVersion != want.KubeletVersion {
			node.Status.NodeInfo.OSImage, node.Status.NodeInfo.KubeletVersion = want.OSImage, want.KubeletVersion
			api.UpdateStatus(ctx, node, metav1.UpdateOptions{})
		}
	}
}

// kubeletRan says whether a hostname's kubelet registered its Node since
// it last stopped.
func (s *Sim) kubeletRan(hostname string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kubeletsUp[hostname]
}

func (s *Sim) setKubeletRan(hostname string, ran bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kubeletsUp == nil {
		s.kubeletsUp = map[string]bool{}
	}
	s.kubeletsUp[hostname] = ran
}

// kubeletGone stops the node's kubelet: its Node registers anew without
// KWOK, NotReady (and unschedulable when cordoned), so no Lease is
// renewed and its pods stop, until its server comes back.
func (s *Sim) kubeletGone(ctx context.Context, kube kubernetes.Interface, n NodeState, cordoned bool) {
	api := kube.CoreV1().Nodes()
	node, err := api.Get(ctx, n.Hostname, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s.setKubeletRan(n.Hostname, false)
	}
	if err != nil || node.Annotations[kubeenv.KWOKNodeAnnotation] == "" {
		return
	}
	if err := api.Delete(ctx, n.Hostname, metav1.DeleteOptions{}); err != nil {
		return
	}
	s.mu.Lock()
	if s.cordonedBefore == nil {
		s.cordonedBefore = map[string]bool{}
	}
	s.cordonedBefore[n.Hostname] = node.Spec.Unschedulable
	s.mu.Unlock()
	reg := node.DeepCopy()
	reg.ResourceVersion, reg.UID, reg.Annotations = "", "", nil
	reg.Status = corev1.NodeStatus{}
	reg.Spec.Unschedulable = reg.Spec.Unschedulable || cordoned
	if node, err = api.Create(ctx, reg, metav1.CreateOptions{}); err != nil {
		return
	}
	now := metav1.Now()
	node.Status = s.nodeStatus(n, nil, corev1.ConditionUnknown, "NodeStatusUnknown")
	node.Status.Conditions[0].Message, node.Status.Conditions[0].LastHeartbeatTime = "Kubelet stopped posting node status.", now
	api.UpdateStatus(ctx, node, metav1.UpdateOptions{})
	s.setKubeletRan(n.Hostname, false)
	if cordoned {
		podsDown(ctx, kube, n.Hostname)
	}
}

// podsDown marks the pods of a node that reboots or powers off not Ready:
// their containers stop with the machine. The kubelet's graceful node
// shutdown ends them as Talos shuts down (Talos sets shutdownGracePeriod;
// pkg/kubelet/nodeshutdown), and the node lifecycle controller marks the
// pods of a node that stopped reporting not Ready (MarkPodsNotReady sets
// the Ready condition False). Once the node runs again under KWOK, its
// pod-ready-resync stage reports them Ready, as the restarted kubelet
// does. A pod drained off the node first is not there to go down.
func podsDown(ctx context.Context, kube kubernetes.Interface, hostname string) {
	pods, err := kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + hostname})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		changed := false
		for i, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status != corev1.ConditionFalse {
				p.Status.Conditions[i].Status, p.Status.Conditions[i].Reason = corev1.ConditionFalse, "NodeNotReady"
				p.Status.Conditions[i].LastTransitionTime = metav1.Now()
				changed = true
			}
		}
		if changed {
			kube.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
		}
	}
}

// nodeStatus is what the kubelet reports: its address, its plan's cores,
// memory and (with the drivers) GPUs, readiness, and in NodeInfo the
// Talos it runs (OSImage "Talos (<version>)", as Talos's os-release
// names it) and its version, the tag of machine.kubelet.image.
func (s *Sim) nodeStatus(n NodeState, tn *talosfake.Node, ready corev1.ConditionStatus, reason string) corev1.NodeStatus {
	now := metav1.Now()
	hw := hardware{cores: 1, memoryGiB: 1}
	s.mu.Lock()
	if sn := s.nodes[n.IP]; sn != nil {
		hw = sn.hw
	}
	s.mu.Unlock()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(max(hw.cores, 1)), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(max(hw.memoryGiB, 1))<<30, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	if tn != nil {
		if g := s.gpus(n.ServerID, tn); g > 0 {
			capacity[gpuResource] = *resource.NewQuantity(int64(g), resource.DecimalSI)
		}
	}
	return corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: reason,
			LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.IP}, {Type: corev1.NodeHostName, Address: n.Hostname}},
		NodeInfo: corev1.NodeSystemInfo{OSImage: "Talos (" + cmpOr(n.TalosVersion, talos.DefaultTalosVersion) + ")",
			KubeletVersion: cmpOr(n.KubeletVersion, "v"+strings.TrimPrefix(talos.DefaultKubernetesVersion, "v")), OperatingSystem: "linux", Architecture: "amd64"},
		Capacity: capacity, Allocatable: capacity,
	}
}

// gpuResource is the extended resource NVIDIA's device plugin advertises.
const gpuResource corev1.ResourceName = "nvidia.com/gpu"

// deleteKubeNode removes the Node object of a server that is gone.
func (s *Sim) deleteKubeNode(hostname string) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kube.Kubeconfig)
	if err != nil {
		return
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kube.CoreV1().Nodes().Delete(ctx, hostname, metav1.DeleteOptions{})
}

// registration is the Node a Talos node's kubelet registers, derived from
// the config the node runs, not from what cto meant: the labels
// Kubernetes and Talos set and machine.nodeLabels; the taints the kubelet
// registers with (machine.kubelet.extraConfig.registerWithTaints) and, on
// a control plane, its NoSchedule taint unless the config allows
// scheduling there (cluster.allowSchedulingOnControlPlanes) and
// machine.nodeTaints; and the GPUs of its plan when its installed
// schematic carries the NVIDIA drivers.
func (s *Sim) registration(hostname string, tn *talosfake.Node) *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: hostname, Labels: map[string]string{
		"kubernetes.io/hostname": hostname, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}}}
	cfg := tn.Config()
	if cfg == nil {
		return node
	}
	controlPlane := cfg.Machine().Type().IsControlPlane()
	// The kubelet registers with these itself (KubeletConfiguration
	// registerWithTaints, []v1.Taint); Talos adds the control-plane taint
	// to them (kubelet_spec.go in Talos v1.13.9).
	if raw, ok := cfg.Machine().Kubelet().ExtraConfig()["registerWithTaints"]; ok {
		var kc struct {
			Taints []corev1.Taint `json:"taints"`
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(map[string]any{"taints": raw}, &kc, true); err == nil {
			node.Spec.Taints = append(node.Spec.Taints, kc.Taints...)
		}
	}
	// Then machined's NodeApplyController applies machine.nodeLabels and
	// machine.nodeTaints (node_apply.go, v1.13.9): on a control plane with
	// admin credentials; on a worker with the kubelet's, which the
	// NodeRestriction admission plugin allows to set labels outside the
	// kubernetes.io and k8s.io namespaces but no taint at all.
	for k, v := range cfg.Machine().NodeLabels() {
		if controlPlane || !restrictedLabel(k) {
			node.Labels[k] = v
		}
	}
	if controlPlane {
		node.Labels["node-role.kubernetes.io/control-plane"] = ""
		if !cfg.Cluster().ScheduleOnControlPlanes() {
			node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule})
		}
		for k, v := range cfg.Machine().NodeTaints() {
			value, effect, found := strings.Cut(v, ":")
			if !found {
				value, effect = "", v
			}
			node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: k, Value: value, Effect: corev1.TaintEffect(effect)})
		}
	}
	return node
}

// restrictedLabel is a label a kubelet may not set on its Node: one in
// the kubernetes.io or k8s.io namespaces other than the kubelet's own
// (k8s.io/kubernetes plugin/pkg/admission/noderestriction and
// kubelet/apis IsKubeletLabel).
func restrictedLabel(key string) bool {
	ns, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	in := func(domain string) bool { return ns == domain || strings.HasSuffix(ns, "."+domain) }
	if !in("kubernetes.io") && !in("k8s.io") {
		return false
	}
	if in("kubelet.kubernetes.io") || in("node.kubernetes.io") {
		return false
	}
	switch key {
	case "kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch", "topology.kubernetes.io/region", "topology.kubernetes.io/zone":
		return false
	}
	return true
}

// gpus is what a node's GPU device plugin would advertise: the GPUs of its
// server's plan, once the node runs the NVIDIA kernel modules from its
// installed schematic and the container toolkit that exposes them (Talos's
// NVIDIA guide); 0 otherwise.
func (s *Sim) gpus(serverID string, tn *talosfake.Node) int {
	cfg := tn.Config()
	if cfg == nil || !slices.ContainsFunc(cfg.Machine().Kernel().Modules(), func(m config.KernelModule) bool { return m.Name() == "nvidia" }) {
		return 0
	}
	id, ok := talos.InstallerSchematic(cfg.Machine().Install().Image())
	if !ok {
		return 0
	}
	body, ok := s.factory.Schematic(id)
	if !ok {
		return 0
	}
	var sc talos.Schematic
	if err := yaml.Unmarshal(body, &sc); err != nil {
		return 0
	}
	exts := sc.Extensions()
	hasPrefix := func(prefixes ...string) bool {
		return slices.ContainsFunc(exts, func(e string) bool {
			return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(e, p) })
		})
	}
	if !hasPrefix("siderolabs/nvidia-open-gpu-kernel-modules-", "siderolabs/nonfree-kmod-nvidia-") || !hasPrefix("siderolabs/nvidia-container-toolkit-") {
		return 0
	}
	for _, srv := range s.latitude.State().Servers {
		if srv.ID != serverID {
			continue
		}
		for _, p := range latfake.Catalogue() {
			if p.Slug == srv.Plan {
				return p.GPUCount
			}
		}
	}
	return 0
}

// endpointResolves says whether a worker can reach its cluster endpoint.
// A worker knows the control planes only through the endpoint its config
// names: trustd, which issues its certificate, and the API server are
// reached there (KubePrism's first upstream is the cluster endpoint; it
// learns the other API servers from the API). Control planes run their
// own API server and need no name. An endpoint given as a DNS name
// resolves once the zone holds an address record of it that points at a
// running control plane.
func (s *Sim) endpointResolves(tn *talosfake.Node) bool {
	cfg := tn.Config()
	if cfg == nil || cfg.Cluster().Endpoint() == nil {
		return false
	}
	host := cfg.Cluster().Endpoint().Hostname()
	if net.ParseIP(host) != nil {
		return true
	}
	controlPlanes := map[string]bool{}
	for _, n := range s.Nodes() {
		if n.Running && n.Role == "controlplane" {
			controlPlanes[n.IP] = true
		}
	}
	s.mu.Lock()
	for ip := range s.lbs {
		controlPlanes[ip] = true // a load balancer in front of them
	}
	s.mu.Unlock()
	for _, r := range s.dns.Records(s.opts.Zone) {
		if strings.EqualFold(strings.TrimSuffix(r.Name, "."), host) && (r.Type == "A" || r.Type == "AAAA") && controlPlanes[r.Content] {
			return true
		}
	}
	return false
}
