package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cto-platform/cto/test/kubeenv"
)

// The control-plane components Talos runs as static pods.
const (
	kubeAPIServer         = "kube-apiserver"
	kubeControllerManager = "kube-controller-manager"
	kubeScheduler         = "kube-scheduler"
)

// StaticPodRestart is how long (wall time) a control plane's static pod
// is down when its image changes: the kubelet stops the old pod and
// starts the new one, which must pull, start and pass its probes.
const StaticPodRestart = 1500 * time.Millisecond

// staticPodSync is how often the simulated kubelets look at their static
// pods (wall time).
const staticPodSync = 200 * time.Millisecond

type staticPodKey struct{ host, component string }

type staticPodState struct {
	mu       sync.Mutex
	last     time.Time
	restarts map[staticPodKey]time.Time // down until then
	images   map[staticPodKey]string    // the image each runs or starts
}

// staticPodRestarting says whether a node's static pod of component is
// down for a restart on a new image.
func (s *Sim) staticPodRestarting(host, component string) bool {
	st := &s.staticPods
	st.mu.Lock()
	defer st.mu.Unlock()
	return time.Now().Before(st.restarts[staticPodKey{host, component}])
}

// StaticPodImages are the images the static pods of a control plane run
// or start, by component, as its kubelet runs them from its config.
func (s *Sim) StaticPodImages(host string) map[string]string {
	st := &s.staticPods
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string]string{}
	for k, v := range st.images {
		if k.host == host {
			out[k.component] = v
		}
	}
	return out
}

// staticPodImages are the static pods Talos renders from a control
// plane's config: kube-apiserver, kube-controller-manager and
// kube-scheduler with the images of cluster.apiServer,
// cluster.controllerManager and cluster.scheduler.
func staticPodImages(cfg coreconfig.Provider) map[string]string {
	return map[string]string{
		kubeAPIServer:         cfg.Cluster().APIServer().Image(),
		kubeControllerManager: cfg.Cluster().ControllerManager().Image(),
		kubeScheduler:         cfg.Cluster().Scheduler().Image(),
	}
}

// syncStaticPods shows each running control plane's static pods as a
// kubelet does: a mirror pod in kube-system named <component>-<node>
// (kubelet pkg/kubelet/pod mirror_client.go: annotation
// kubernetes.io/config.mirror, owned by the Node), labelled as Talos's
// static pod manifests label them (k8s-app=<component>,
// tier=control-plane), with the image of the config the node runs; KWOK
// starts it (Running, Ready) as the kubelet does. When the config's
// image changes (an apply without reboot), the kubelet kills the old pod
// and deletes its mirror, and the new pod comes up StaticPodRestart
// later; meanwhile there is no Ready pod of that component on the node,
// and a restarting kube-apiserver does not answer on the node's address.
// A node that reboots loses its Node and with it its mirror pods (the
// garbage collector follows the owner reference); they come back with
// the kubelet.
func (s *Sim) syncStaticPods(ctx context.Context, kube kubernetes.Interface, nodes []NodeState) {
	st := &s.staticPods
	st.mu.Lock()
	now := time.Now()
	if now.Sub(st.last) < staticPodSync {
		st.mu.Unlock()
		return
	}
	st.last = now
	if st.restarts == nil {
		st.restarts, st.images = map[staticPodKey]time.Time{}, map[staticPodKey]string{}
	}
	st.mu.Unlock()

	var cps []NodeState
	for _, n := range nodes {
		if n.Running && n.Configured && n.Role == "controlplane" && !n.Rebooting && !n.Halted {
			cps = append(cps, n)
		}
	}
	if len(cps) == 0 {
		return
	}
	list, err := kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "tier=control-plane"})
	if err != nil {
		return
	}
	mirrors := map[string]*corev1.Pod{}
	for i := range list.Items {
		if p := &list.Items[i]; p.DeletionTimestamp == nil {
			mirrors[p.Name] = p
		}
	}
	for _, n := range cps {
		tn := s.Node(n.Hostname)
		if tn == nil || tn.Config() == nil {
			continue
		}
		node, err := kube.CoreV1().Nodes().Get(ctx, n.Hostname, metav1.GetOptions{})
		if err != nil || node.Annotations[kubeenv.KWOKNodeAnnotation] == "" {
			continue // the kubelet is not running the node yet
		}
		for component, image := range staticPodImages(tn.Config()) {
			key := staticPodKey{n.Hostname, component}
			name := component + "-" + n.Hostname
			pod := mirrors[name]
			st.mu.Lock()
			prev, known := st.images[key]
			restarting := now.Before(st.restarts[key])
			if known && prev != image {
				// The config changed: the kubelet restarts the static pod.
				st.restarts[key] = now.Add(StaticPodRestart)
				restarting = true
			}
			st.images[key] = image
			st.mu.Unlock()
			switch {
			case pod != nil && (podImage(pod, component) != image || !ownedBy(pod, node)):
				grace := int64(0)
				kube.CoreV1().Pods("kube-system").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
			case pod == nil && !restarting:
				kube.CoreV1().Pods("kube-system").Create(ctx, mirrorPod(node, component, image), metav1.CreateOptions{})
			}
		}
	}
}

func podImage(p *corev1.Pod, container string) string {
	for _, c := range p.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

func ownedBy(p *corev1.Pod, node *corev1.Node) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "Node" && o.UID == node.UID {
			return true
		}
	}
	return false
}

// mirrorPod is the mirror pod a kubelet creates for a static pod Talos
// rendered (Talos v1.13 controlplane_static_pod.go: host network,
// priority class system-cluster-critical, the labels above).
func mirrorPod(node *corev1.Node, component, image string) *corev1.Pod {
	sum := sha256.Sum256([]byte(node.Name + component + image))
	hash := hex.EncodeToString(sum[:16])
	yes := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: component + "-" + node.Name, Namespace: "kube-system",
			Labels: map[string]string{"k8s-app": component, "tier": "control-plane"},
			Annotations: map[string]string{"kubernetes.io/config.mirror": hash, "kubernetes.io/config.hash": hash,
				"kubernetes.io/config.source": "file"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: &yes}},
		},
		Spec: corev1.PodSpec{
			NodeName: node.Name, HostNetwork: true, PriorityClassName: "system-cluster-critical",
			Containers:  []corev1.Container{{Name: component, Image: image}},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		},
	}
}
