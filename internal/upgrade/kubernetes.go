package upgrade

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	coreconfig "github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/constants"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cto-platform/cto/internal/drain"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/talos"
)

// StepKubernetes is the step of `cto upgrade --kubernetes-version`; its
// phases are named "kubernetes <version> <component> <node>", and
// "kubernetes <version> pre-pull" first.
//
// The upgrade is talosctl upgrade-k8s's (Talos v1.13.9,
// pkg/cluster/kubernetes talos_managed.go, Upgrade): pre-pull the images
// on every node, then each control-plane component on every control plane
// in turn (kube-apiserver, kube-controller-manager, kube-scheduler), then
// kube-proxy, then the kubelets of the control planes and the workers,
// one node at a time, and last the bootstrap manifests.
const StepKubernetes = "upgrade-kubernetes"

// The components Talos runs as static pods on a control plane, in the
// order talosctl upgrades them (talos_managed.go, Upgrade), and the
// kubelet, which Talos runs as a service on every node.
const (
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kubelet               = "kubelet"
)

// StaticPods are the control-plane components in upgrade order.
var StaticPods = []string{KubeAPIServer, KubeControllerManager, KubeScheduler}

// componentImage is the image talosctl sets for a component at version:
// its options' default repositories (cmd/talosctl upgrade-k8s flags:
// constants.KubernetesAPIServerImage and friends, constants.KubeletImage)
// with the tag "v<version>"; a kubelet keeps its image's "-fat" or
// "-slim" suffix (kubelet.go, extractKubeletVersionSuffix).
func componentImage(component, version, current string) string {
	v := "v" + strings.TrimPrefix(version, "v")
	switch component {
	case KubeAPIServer:
		return constants.KubernetesAPIServerImage + ":" + v
	case KubeControllerManager:
		return constants.KubernetesControllerManagerImage + ":" + v
	case KubeScheduler:
		return constants.KubernetesSchedulerImage + ":" + v
	}
	return constants.KubeletImage + ":" + v + kubeletSuffix(current)
}

// kubeletSuffix is the flavour suffix of a kubelet image's tag.
func kubeletSuffix(image string) string {
	image, _, _ = strings.Cut(image, "@")
	for _, s := range []string{"-fat", "-slim"} {
		if strings.HasSuffix(image, s) {
			return s
		}
	}
	return ""
}

// configImage is the image a running config gives a component (the
// machinery's defaults for an empty field, as Talos renders it).
func configImage(cfg coreconfig.Provider, component string) string {
	switch component {
	case KubeAPIServer:
		return cfg.Cluster().APIServer().Image()
	case KubeControllerManager:
		return cfg.Cluster().ControllerManager().Image()
	case KubeScheduler:
		return cfg.Cluster().Scheduler().Image()
	}
	return cfg.Machine().Kubelet().Image()
}

// setImage patches a component's image into the v1alpha1 document, as
// talosctl's patchers do (talos_managed.go upgradeStaticPodPatcher and
// kubelet.go upgradeKubeletPatcher, v1.13.9).
func setImage(c *v1alpha1.Config, component, image string) {
	if c.ClusterConfig == nil {
		c.ClusterConfig = &v1alpha1.ClusterConfig{}
	}
	if c.MachineConfig == nil {
		c.MachineConfig = &v1alpha1.MachineConfig{}
	}
	switch component {
	case KubeAPIServer:
		if c.ClusterConfig.APIServerConfig == nil {
			c.ClusterConfig.APIServerConfig = &v1alpha1.APIServerConfig{}
		}
		c.ClusterConfig.APIServerConfig.ContainerImage = image
	case KubeControllerManager:
		if c.ClusterConfig.ControllerManagerConfig == nil {
			c.ClusterConfig.ControllerManagerConfig = &v1alpha1.ControllerManagerConfig{}
		}
		c.ClusterConfig.ControllerManagerConfig.ContainerImage = image
	case KubeScheduler:
		if c.ClusterConfig.SchedulerConfig == nil {
			c.ClusterConfig.SchedulerConfig = &v1alpha1.SchedulerConfig{}
		}
		c.ClusterConfig.SchedulerConfig.ContainerImage = image
	default:
		if c.MachineConfig.MachineKubelet == nil {
			c.MachineConfig.MachineKubelet = &v1alpha1.KubeletConfig{}
		}
		c.MachineConfig.MachineKubelet.KubeletImage = image
	}
}

// imageVersion is the version an image's tag names ("" when it has none
// that parses), as talosctl reads it (pkg/kubernetes VersionFromImageRef).
func imageVersion(image string) string {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	tag := image[i+1:]
	for _, s := range []string{"-fat", "-slim"} {
		tag = strings.TrimSuffix(tag, s)
	}
	if _, err := semver.ParseTolerant(tag); err != nil {
		return ""
	}
	return "v" + strings.TrimPrefix(tag, "v")
}

// KubernetesPlan is a checked Kubernetes upgrade.
type KubernetesPlan struct {
	// Target is the version to reach, From the lowest the cluster runs.
	Target, From string
	// Running is each node's components and the version each runs by
	// its running config: control planes have the static pods and the
	// kubelet, workers the kubelet.
	Running map[string]map[string]string
	// KubeProxy says the running configs enable kube-proxy (cto's do
	// not: cluster.proxy.disabled).
	KubeProxy bool

	c            *Cluster
	cps, workers []state.Node
}

// PlanKubernetes reads the versions the cluster runs and the Talos
// versions of its nodes and checks the request against the rules. The
// version it upgrades from is the lowest of the control-plane static
// pods' images, as talosctl detects it (pkg/cluster/kubernetes detect.go,
// DetectLowestVersion; not the API server's /version, which answers from
// whichever API server the request reaches), and of the kubelets the
// Nodes report. A *RuleError is a request the rules refuse.
func PlanKubernetes(ctx context.Context, r *pipeline.Run, c *Cluster, target string) (*KubernetesPlan, error) {
	tv, err := parse("Kubernetes", target)
	if err != nil {
		return nil, &RuleError{err}
	}
	cps, workers := nodesByRole(r)
	if len(cps) == 0 {
		return nil, errors.New("the journal has no control plane")
	}
	all := append(slices.Clone(cps), workers...)
	talosVersions, err := c.nodeVersions(ctx, r, all)
	if err != nil {
		return nil, err
	}
	p := &KubernetesPlan{Target: tag(tv), Running: map[string]map[string]string{}, c: c, cps: cps, workers: workers}
	for _, n := range all {
		cfg, err := c.Talos.MachineConfig(ctx, r.Deps.Talos.Endpoint(n.PublicIP))
		if err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", n.Name, n.PublicIP, err)
		}
		run := map[string]string{Kubelet: imageVersion(configImage(cfg, Kubelet))}
		if n.Role == talos.RoleControlPlane {
			for _, sp := range StaticPods {
				run[sp] = imageVersion(configImage(cfg, sp))
			}
			p.KubeProxy = p.KubeProxy || cfg.Cluster().Proxy().Enabled()
		}
		p.Running[n.Name] = run
	}
	running, err := runningVersions(ctx, c)
	if err != nil {
		return nil, err
	}
	p.From = lowest(running)
	if p.From == "" {
		return nil, errors.New("no kube-apiserver, kube-controller-manager or kube-scheduler pod in kube-system, nor a kubelet, reports a version: cannot tell which Kubernetes the cluster runs")
	}
	var tvs []string
	for _, v := range talosVersions {
		tvs = append(tvs, v)
	}
	if err := CheckKubernetes(p.From, p.Target, tvs); err != nil {
		return nil, &RuleError{err}
	}
	if p.KubeProxy {
		// talosctl patches cluster.proxy.image (upgradeKubeProxy); cto
		// deploys without kube-proxy and does not upgrade one.
		return nil, errors.New("the cluster's configs run kube-proxy, which cto does not deploy and does not upgrade; use talosctl upgrade-k8s")
	}
	return p, nil
}

// runningVersions are the versions the cluster's Kubernetes reports:
// each control-plane static pod's container image (kube-system pods
// labelled k8s-app=<component>, the container of that name, as
// DetectLowestVersion reads them) and each Node's kubelet.
func runningVersions(ctx context.Context, c *Cluster) ([]string, error) {
	pods, err := c.Kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("the control plane's pods: %w", err)
	}
	var out []string
	for _, pod := range pods.Items {
		app := pod.Labels["k8s-app"]
		if !slices.Contains(StaticPods, app) {
			continue
		}
		for _, ct := range pod.Spec.Containers {
			if v := imageVersion(ct.Image); ct.Name == app && v != "" {
				out = append(out, v)
			}
		}
	}
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("the cluster's nodes: %w", err)
	}
	for _, n := range nodes.Items {
		if _, err := semver.ParseTolerant(n.Status.NodeInfo.KubeletVersion); err == nil {
			out = append(out, n.Status.NodeInfo.KubeletVersion)
		}
	}
	return out, nil
}

func lowest(versions []string) string {
	low := ""
	for _, v := range versions {
		if low == "" || older(v, low) {
			low = v
		}
	}
	return low
}

// Done says whether every node runs the target already.
func (p *KubernetesPlan) Done() bool {
	for _, run := range p.Running {
		for _, v := range run {
			if v != p.Target {
				return false
			}
		}
	}
	return p.From == p.Target
}

// ControlPlanes and Workers are the nodes the plan upgrades.
func (p *KubernetesPlan) ControlPlanes() []state.Node { return slices.Clone(p.cps) }
func (p *KubernetesPlan) Workers() []state.Node       { return slices.Clone(p.workers) }

// Steps are what the engine runs.
func (p *KubernetesPlan) Steps() []pipeline.Step { return []pipeline.Step{kubernetesStep{p}} }

type kubernetesStep struct{ p *KubernetesPlan }

func (kubernetesStep) Name() string { return StepKubernetes }

// Phases are the pre-pull, each static pod of each control plane (by
// component, then node), then each node's kubelet (control planes, then
// workers).
func (s kubernetesStep) Phases() []pipeline.Step {
	p := s.p
	out := []pipeline.Step{prePullStep{p}}
	for _, sp := range StaticPods {
		for _, cp := range p.cps {
			out = append(out, componentStep{p, sp, cp})
		}
	}
	for _, n := range append(slices.Clone(p.cps), p.workers...) {
		out = append(out, componentStep{p, Kubelet, n})
	}
	return out
}

// Run runs the phases in order and stops at the first failure.
func (s kubernetesStep) Run(ctx context.Context, r *pipeline.Run) error {
	for _, ph := range s.Phases() {
		if err := r.RunPhase(ctx, ph); err != nil {
			return err
		}
	}
	// talosctl upgrades kube-proxy next (upgradeKubeProxy); cto's
	// clusters run without it (PlanKubernetes refuses one that has it).
	r.Say("kube-proxy: not deployed (cluster.proxy.disabled): nothing to upgrade")
	// talosctl syncs Talos's bootstrap manifests last
	// (PerformManifestsSync); cto does not: see the guide.
	r.Say("bootstrap manifests: not synced; those Talos applied at bootstrap (CoreDNS, its RBAC) stay as they are")
	return nil
}

// prePullStep has every node pull the images it will run before anything
// changes (talos_managed.go, prePullImages): the control-plane images on
// each control plane into the CRI namespace, each node's kubelet image
// into the system namespace. A Talos without an image API is skipped, as
// talosctl skips it.
type prePullStep struct{ p *KubernetesPlan }

func (s prePullStep) Name() string { return "kubernetes " + s.p.Target + " pre-pull" }

type pull struct {
	node  state.Node
	ns    common.ContainerdNamespace
	image string
}

func (s prePullStep) pulls(ctx context.Context, r *pipeline.Run) ([]pull, error) {
	p := s.p
	var out []pull
	for _, sp := range StaticPods {
		for _, cp := range p.cps {
			out = append(out, pull{cp, common.ContainerdNamespace_NS_CRI, componentImage(sp, p.Target, "")})
		}
	}
	for _, n := range append(slices.Clone(p.cps), p.workers...) {
		cfg, err := p.c.Talos.MachineConfig(ctx, r.Deps.Talos.Endpoint(n.PublicIP))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Name, err)
		}
		out = append(out, pull{n, common.ContainerdNamespace_NS_SYSTEM, componentImage(Kubelet, p.Target, configImage(cfg, Kubelet))})
	}
	return out, nil
}

func (s prePullStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	pulls, err := s.pulls(ctx, r)
	if err != nil {
		return err
	}
	for _, pl := range pulls {
		r.Say("%s: pre-pull %s", pl.node.Name, pl.image)
	}
	return nil
}

func (s prePullStep) Run(ctx context.Context, r *pipeline.Run) error {
	pulls, err := s.pulls(ctx, r)
	if err != nil {
		return err
	}
	for _, pl := range pulls {
		r.NodeEvent(pl.node.Name, "pulling", pl.node.PublicIP, "pre-pulling "+pl.image)
		err := s.p.c.Talos.PullImage(ctx, r.Deps.Talos.Endpoint(pl.node.PublicIP), pl.ns, pl.image)
		switch {
		case errors.Is(err, talos.ErrPullUnimplemented):
			r.NodeEvent(pl.node.Name, "pulling", pl.node.PublicIP, "its Talos cannot pre-pull; it pulls at the restart instead")
		case err != nil:
			return fmt.Errorf("pre-pulling %s on %s: %w", pl.image, pl.node.Name, err)
		}
	}
	return nil
}

// componentStep moves one component of one node to the target.
type componentStep struct {
	p         *KubernetesPlan
	component string
	node      state.Node
}

func (s componentStep) Name() string {
	return "kubernetes " + s.p.Target + " " + s.component + " " + s.node.Name
}

func (s componentStep) DryRun(ctx context.Context, r *pipeline.Run) error {
	from := s.p.Running[s.node.Name][s.component]
	if from == s.p.Target {
		r.Say("%s (%s): %s runs %s already", s.node.Name, s.node.Role, s.component, from)
		return nil
	}
	r.Say("%s (%s): %s %s → %s (%s, applied without a reboot)", s.node.Name, s.node.Role, s.component, from, s.p.Target, componentImage(s.component, s.p.Target, ""))
	return nil
}

func (s componentStep) Run(ctx context.Context, r *pipeline.Run) error {
	c, n := s.p.c, s.node
	ep := r.Deps.Talos.Endpoint(n.PublicIP)
	if s.component == KubeAPIServer {
		// cto's rule, as before a Talos upgrade: the API server restarts
		// on this node only while etcd answers with all its members.
		r.NodeEvent(n.Name, "waiting", n.PublicIP, "waiting for etcd to be healthy with every member")
		if err := c.EtcdHealthy(ctx, r); err != nil {
			return err
		}
	}
	// The node may be answering slowly (a run stopped mid-apply): wait
	// for its running config, which is what gets patched.
	var cfg coreconfig.Provider
	if err := poll(ctx, r, n.Name+" returns its running config", func() (bool, string, error) {
		got, err := c.Talos.MachineConfig(ctx, ep)
		if err != nil {
			return false, err.Error(), nil
		}
		cfg = got
		return true, "", nil
	}); err != nil {
		return err
	}
	cur := configImage(cfg, s.component)
	want := componentImage(s.component, s.p.Target, cur)
	if cur != want {
		// patchNodeConfig (patch.go): the running config, patched, applied
		// with mode NO_REBOOT; Talos restarts the static pod or the kubelet.
		r.NodeEvent(n.Name, "upgrading", n.PublicIP, fmt.Sprintf("%s %s → %s", s.component, cur, want))
		patched, err := cfg.PatchV1Alpha1(func(c *v1alpha1.Config) error {
			setImage(c, s.component, want)
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: patching its config: %w", n.Name, err)
		}
		data, err := patched.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
		if err != nil {
			return fmt.Errorf("%s: encoding its config: %w", n.Name, err)
		}
		if err := c.Talos.ApplyNoReboot(ctx, ep, data); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	if s.component == Kubelet {
		// checkNodeKubeletVersion (kubelet.go): the Node reports the
		// version and is Ready. talosctl first watches the kubelet service
		// go down and come back healthy through the COSI API; the Node's
		// report is what shows the new kubelet runs.
		err := pollKube(ctx, r, n.Name+" Ready with kubelet "+s.p.Target, func() (bool, string, error) {
			node, err := c.Kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			switch {
			case err != nil:
				return false, err.Error(), nil
			case node.Status.NodeInfo.KubeletVersion != s.p.Target:
				return false, fmt.Sprintf("node version mismatch: got %q, expected %q", node.Status.NodeInfo.KubeletVersion, s.p.Target), nil
			case !drain.Ready(node):
				return false, "node is not ready", nil
			}
			return true, "", nil
		})
		if err != nil {
			return err
		}
		if err := r.Journal.Update(func(j *state.Journal) {
			if jn := j.NodeLocked(n.Name); jn != nil {
				jn.KubernetesVersion = s.p.Target
			}
		}); err != nil {
			return err
		}
		r.NodeEvent(n.Name, "upgraded", n.PublicIP, "runs kubelet "+s.p.Target)
		return nil
	}
	if err := s.waitStaticPod(ctx, r, want); err != nil {
		return err
	}
	r.NodeEvent(n.Name, "upgraded", n.PublicIP, "runs "+s.component+" "+s.p.Target)
	return nil
}

// waitStaticPod waits until the node's mirror pod of the component runs
// image and is Ready (talos_managed.go, checkPodStatus: kube-system pods
// labelled k8s-app=<component> on the node; talosctl matches the config
// version Talos annotates, cto the image, which the COSI watch of the
// component's config would be needed for). After kube-apiserver, the
// Kubernetes API must answer /readyz too.
func (s componentStep) waitStaticPod(ctx context.Context, r *pipeline.Run, image string) error {
	c, n := s.p.c, s.node
	return pollKube(ctx, r, n.Name+" runs "+s.component+" "+s.p.Target+" Ready", func() (bool, string, error) {
		pods, err := c.Kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{
			LabelSelector: "k8s-app=" + s.component, FieldSelector: "spec.nodeName=" + n.Name})
		if err != nil {
			return false, "the Kubernetes API: " + err.Error(), nil
		}
		why := "no " + s.component + " pod on the node"
		for _, pod := range pods.Items {
			if pod.DeletionTimestamp != nil {
				continue
			}
			img := ""
			for _, ct := range pod.Spec.Containers {
				if ct.Name == s.component {
					img = ct.Image
				}
			}
			switch {
			case img != image:
				why = fmt.Sprintf("%s runs %s", pod.Name, img)
			case !podReady(&pod):
				why = pod.Name + " is not Ready"
			default:
				if s.component == KubeAPIServer {
					if _, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
						return false, "the Kubernetes API is not ready: " + err.Error(), nil
					}
				}
				return true, "", nil
			}
		}
		return false, why, nil
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Progress says which nodes run the target kubelet by the journal, for
// the message of a run that stopped.
func (p *KubernetesPlan) Progress(j *state.Journal) string {
	return progress(j, "kubelet on Kubernetes "+p.Target, func(n state.Node) bool { return n.KubernetesVersion == p.Target })
}
