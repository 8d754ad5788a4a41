package kubeenv

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// KWOKVersion is the version of KWOK scripts/kubeenv.sh installs, with
// its "fast" node and pod stages beside it.
const KWOKVersion = "v0.8.0"

// KWOKNodeAnnotation marks the nodes KWOK runs; AddNode sets it.
const KWOKNodeAnnotation = "kwok.x-k8s.io/node"

func workloadBinaries(bin string) []string {
	return []string{
		filepath.Join(bin, "kube-controller-manager-"+KubernetesVersion),
		filepath.Join(bin, "kube-scheduler-"+KubernetesVersion),
		filepath.Join(bin, "kwok-"+KWOKVersion),
		kwokStages(bin),
	}
}

func kwokStages(bin string) string {
	return filepath.Join(bin, "kwok-stages-"+KWOKVersion+"-lease.yaml")
}

// kubeletResync is the stage that gives KWOK's pods what a kubelet's
// status manager does beyond KWOK's own stages (see the file).
//
//go:embed kwok-pod-ready-resync.yaml
var kubeletResync []byte

// talosAdmission writes the admission configuration Talos gives its API
// server: the plugins of a control plane's generated config (Pod Security
// "baseline" enforced by default, kube-system exempt), taken from Talos
// machinery itself, in the AdmissionConfiguration file Talos writes from
// them.
func talosAdmission(dir string) (string, error) {
	in, err := generate.NewInput("kubeenv", "https://127.0.0.1:6443", "1.36.3")
	if err != nil {
		return "", fmt.Errorf("talos admission: %w", err)
	}
	cfg, err := in.Config(machine.TypeControlPlane)
	if err != nil {
		return "", fmt.Errorf("talos admission: %w", err)
	}
	var plugins []map[string]any
	for _, p := range cfg.Cluster().APIServer().AdmissionControl() {
		plugins = append(plugins, map[string]any{"name": p.Name(), "configuration": p.Configuration()})
	}
	data, err := yaml.Marshal(map[string]any{
		"apiVersion": "apiserver.config.k8s.io/v1",
		"kind":       "AdmissionConfiguration",
		"plugins":    plugins,
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "admission.yaml")
	return path, os.WriteFile(path, data, 0o600)
}

// startWorkloads runs the controllers, the scheduler and KWOK against the
// API server.
func (e *Env) startWorkloads(bin, saKey, certDir string) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	if err := e.spawn("kube-controller-manager", filepath.Join(bin, "kube-controller-manager-"+KubernetesVersion),
		"--kubeconfig", e.Kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[0]),
		"--leader-elect=false",
		"--service-account-private-key-file", saKey,
		"--root-ca-file", filepath.Join(certDir, "apiserver.crt"),
		"--use-service-account-credentials=false",
		// Nodes come and go with the tests: no CIDRs, no cloud.
		"--allocate-node-cidrs=false",
		"--controllers", "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
	); err != nil {
		return err
	}
	if err := e.spawn("kube-scheduler", filepath.Join(bin, "kube-scheduler-"+KubernetesVersion),
		"--kubeconfig", e.Kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[1]),
		"--leader-elect=false",
	); err != nil {
		return err
	}
	resync := filepath.Join(e.dir, "kwok-pod-ready-resync.yaml")
	if err := os.WriteFile(resync, kubeletResync, 0o600); err != nil {
		return err
	}
	return e.spawn("kwok", filepath.Join(bin, "kwok-"+KWOKVersion),
		"--kubeconfig", e.Kubeconfig,
		"--config", kwokStages(bin),
		"--config", resync,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", KWOKNodeAnnotation+"=fake",
		"--cidr", "10.244.0.0/16",
		// A kubelet's Lease lasts 40 s (KubeletConfiguration
		// nodeLeaseDurationSeconds); KWOK renews it as one would.
		"--node-lease-duration-seconds", "40",
		"--node-ip", "127.0.0.1",
	)
}

// Node is a simulated node for AddNode: what a real node's kubelet would
// register.
type Node struct {
	Name   string
	Labels map[string]string
	Taints []corev1.Taint
	// CPU cores, memory in GiB and NVIDIA GPUs the node offers.
	CPU, MemoryGiB, GPUs int
	// InternalIP is the address the kubelet reports.
	InternalIP string
}

// AddNode registers a node that KWOK runs: pods the scheduler binds to it
// become Running and Ready as on a healthy kubelet.
func (e *Env) AddNode(ctx context.Context, n Node) error {
	kc, err := e.client()
	if err != nil {
		return err
	}
	labels := map[string]string{
		"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"type": "kwok",
	}
	for k, v := range n.Labels {
		labels[k] = v
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(max(n.CPU, 1)), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(max(n.MemoryGiB, 1))<<30, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	if n.GPUs > 0 {
		capacity["nvidia.com/gpu"] = *resource.NewQuantity(int64(n.GPUs), resource.DecimalSI)
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels, Annotations: map[string]string{KWOKNodeAnnotation: "fake"}},
		Spec:       corev1.NodeSpec{Taints: n.Taints},
		Status: corev1.NodeStatus{
			Capacity: capacity, Allocatable: capacity,
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: KubernetesVersion, OperatingSystem: "linux", Architecture: "amd64", OSImage: "Talos"},
		},
	}
	if n.InternalIP != "" {
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.InternalIP}, {Type: corev1.NodeHostName, Address: n.Name}}
	}
	_, err = kc.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	return err
}

// RefusePods makes namespace (created if need be) refuse new pods, as a
// ResourceQuota of none does (the ResourceQuota admission plugin), and
// removes the pods it has,
// so its workloads cannot come up. AllowPods undoes it.
func (e *Env) RefusePods(ctx context.Context, namespace string) error {
	kc, err := e.client()
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: refusePods, Namespace: namespace},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}
	if _, err := kc.CoreV1().ResourceQuotas(namespace).Create(ctx, q, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The quota admits nothing once its usage is counted.
	for {
		got, err := kc.CoreV1().ResourceQuotas(namespace).Get(ctx, refusePods, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, counted := got.Status.Hard[corev1.ResourcePods]; counted {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return kc.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
}

// AllowPods removes what RefusePods put in namespace.
func (e *Env) AllowPods(ctx context.Context, namespace string) error {
	kc, err := e.client()
	if err != nil {
		return err
	}
	err = kc.CoreV1().ResourceQuotas(namespace).Delete(ctx, refusePods, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

const refusePods = "refuse-pods"
