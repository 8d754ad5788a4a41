package sim

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	talosfake "github.com/cto-platform/cto/internal/talos/fake"
)

// play runs the controllers' stand-in: the player for workloads and
// Applications, and the kubelets of the configured nodes.
func (s *Sim) play(ctx context.Context) {
	defer close(s.playDone)
	var kube kubernetes.Interface
	if cfg, err := clientcmd.BuildConfigFromFlags("", s.kube.Kubeconfig); err == nil {
		cfg.QPS, cfg.Burst = 200, 400
		kube, _ = kubernetes.NewForConfig(cfg)
	}
	for {
		s.player.Step(ctx)
		if kube != nil {
			s.kubelets(ctx, kube)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.PlayerInterval):
		}
	}
}

// kubelets registers a Node object for each configured Talos node once
// etcd runs, NotReady until the CNI (the cilium agent DaemonSet) exists and
// Ready after, as a kubelet would report it.
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
	for _, n := range nodes {
		if !n.Running || !n.Configured {
			continue
		}
		tn := s.Node(n.Hostname)
		if tn == nil || tn.Network().KubeletProblem != "" {
			continue // the kubelet has no address to register with
		}
		s.kubelet(ctx, kube, n, tn, cni)
	}
}

func (s *Sim) kubelet(ctx context.Context, kube kubernetes.Interface, n NodeState, tn *talosfake.Node, cni bool) {
	ready, reason := corev1.ConditionFalse, "KubeletNotReady"
	if cni {
		ready, reason = corev1.ConditionTrue, "KubeletReady"
	}
	api := kube.CoreV1().Nodes()
	node, err := api.Get(ctx, n.Hostname, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = api.Create(ctx, registration(n.Hostname, tn), metav1.CreateOptions{})
	}
	if err != nil {
		return
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == ready {
			return
		}
	}
	now := metav1.Now()
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: reason,
		LastHeartbeatTime: now, LastTransitionTime: now}}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.IP}, {Type: corev1.NodeHostName, Address: n.Hostname}}
	node.Status.NodeInfo = corev1.NodeSystemInfo{OSImage: "Talos (v1.13.9)", KubeletVersion: "v1.36.3", OperatingSystem: "linux", Architecture: "amd64"}
	api.UpdateStatus(ctx, node, metav1.UpdateOptions{})
}

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

// registration is the Node a Talos node's kubelet registers: the labels
// Kubernetes and Talos set, and on a control plane the control-plane
// label and, unless the config allows scheduling there
// (cluster.allowSchedulingOnControlPlanes), its NoSchedule taint.
func registration(hostname string, tn *talosfake.Node) *corev1.Node {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: hostname, Labels: map[string]string{
		"kubernetes.io/hostname": hostname, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}}}
	cfg := tn.Config()
	if cfg == nil || !cfg.Machine().Type().IsControlPlane() {
		return node
	}
	node.Labels["node-role.kubernetes.io/control-plane"] = ""
	if !cfg.Cluster().ScheduleOnControlPlanes() {
		node.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	}
	return node
}
