package day2

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cto-platform/cto/test/sim"
	"github.com/cto-platform/cto/test/simworld"
)

const (
	oldKubernetes = "v1.35.2"
	newKubernetes = "v1.36.3"
)

var staticPods = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// deployOldKubernetes deploys 3 control planes and 2 workers on
// Kubernetes oldKubernetes, with a workload of 3 replicas that must keep
// 2 available.
func deployOldKubernetes(t *testing.T, opts sim.Options, name string) (*simworld.World, *budgetWatch) {
	t.Helper()
	w := simworld.New(t, opts)
	w.MustRun(simworld.DeployArgs(name, "minimal", 5, "--control-planes", "3", "--kubernetes-version", oldKubernetes)...)
	checkKubernetes(t, w, name, oldKubernetes)
	if t.Failed() {
		t.FailNow()
	}
	dumpOnFailure(t, w.Kube(name))
	return w, workload(t, w.Kube(name), 3, 2)
}

// checkKubernetes asserts from the doubles' side that every kubelet and
// every control plane's static pods run version: the configs the Talos
// nodes run, the simulated kubelets' static pods, and the Nodes and
// mirror pods the API server holds (waiting a few seconds for the
// simulated kubelets to report).
func checkKubernetes(t *testing.T, w *simworld.World, name, version string) {
	t.Helper()
	kube := w.Kube(name)
	var problems []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		problems = nil
		for _, h := range nodeNames(name, 3, 2) {
			n := w.Sim.Node(h)
			if v := n.KubeletVersion(); v != version {
				problems = append(problems, fmt.Sprintf("%s's config runs kubelet %s", h, v))
			}
			node, err := kube.CoreV1().Nodes().Get(context.Background(), h, metav1.GetOptions{})
			if err != nil || node.Status.NodeInfo.KubeletVersion != version {
				problems = append(problems, fmt.Sprintf("the Node %s does not report kubelet %s (%v)", h, version, err))
			}
			if !strings.Contains(h, "-cp") {
				continue
			}
			images := w.Sim.StaticPodImages(h)
			for _, sp := range staticPods {
				want := "registry.k8s.io/" + sp + ":" + version
				if images[sp] != want {
					problems = append(problems, fmt.Sprintf("%s's kubelet runs %s %q, want %s", h, sp, images[sp], want))
				}
				pod, err := kube.CoreV1().Pods("kube-system").Get(context.Background(), sp+"-"+h, metav1.GetOptions{})
				if err != nil || pod.Spec.Containers[0].Image != want || !podIsReady(pod.Status.Conditions) {
					problems = append(problems, fmt.Sprintf("the mirror pod %s-%s is not Ready on %s (%v)", sp, h, want, err))
				}
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// checkKubernetesUpgraded asserts the end state of an upgrade to
// newKubernetes: every component runs it, each node was patched without
// a reboot and pre-pulled its images, the journal records the version,
// etcd never lost quorum and the workload kept its budget.
func checkKubernetesUpgraded(t *testing.T, w *simworld.World, name string, b *budgetWatch) {
	t.Helper()
	checkKubernetes(t, w, name, newKubernetes)
	for _, h := range nodeNames(name, 3, 2) {
		n := w.Sim.Node(h)
		if n.UpgradeCalls() != 0 || n.RunningVersion() != oldTalosDefault(w, h) {
			t.Errorf("%s was asked to upgrade Talos or rebooted into another one", h)
		}
		for _, a := range n.AppliedConfigs() {
			if a.Mode != machine.ApplyConfigurationRequest_NO_REBOOT {
				t.Errorf("%s took a config with mode %s, want NO_REBOOT", h, a.Mode)
			}
		}
		pulled := false
		for _, p := range n.ImagePulls() {
			pulled = pulled || p.Ref == "ghcr.io/siderolabs/kubelet:"+newKubernetes
		}
		if !pulled {
			t.Errorf("%s did not pre-pull the new kubelet: %v", h, n.ImagePulls())
		}
	}
	if losses := w.Sim.Etcd().QuorumLosses(); len(losses) > 0 {
		t.Errorf("etcd lost quorum: %v", losses)
	}
	if fewest, events := b.Fewest(); fewest < 2 {
		t.Errorf("the workload fell to %d available replicas (budget: 2; %d pod events seen)", fewest, events)
	} else {
		t.Logf("the workload kept at least %d of 3 replicas available over %d pod events", fewest, events)
	}
	if len(w.ReadyNodes(name, 5)) != 5 {
		t.Errorf("not every node is Ready after the upgrade")
	}
	j := w.Journal(name)
	for _, n := range j.NodesCopy() {
		if n.KubernetesVersion != newKubernetes {
			t.Errorf("the journal has %s on Kubernetes %q, want %s", n.Name, n.KubernetesVersion, newKubernetes)
		}
	}
	var spec struct {
		Talos struct {
			KubernetesVersion string `json:"kubernetesVersion"`
		} `json:"talos"`
	}
	if err := json.Unmarshal(j.Spec, &spec); err != nil || spec.Talos.KubernetesVersion != newKubernetes {
		t.Errorf("the journal's spec does not record Kubernetes %s (%v): %s", newKubernetes, err, j.Spec)
	}
	if op := j.FactsCopy().Operation; op != "" {
		t.Errorf("the journal still has %q under way", op)
	}
}

// oldTalosDefault is the Talos a node of the deploy runs: a Kubernetes
// upgrade leaves it as it was.
func oldTalosDefault(w *simworld.World, h string) string {
	return w.Journal(strings.SplitN(h, "-", 2)[0]).NodesCopy()[0].TalosVersion
}

func podIsReady(conds []corev1.PodCondition) bool {
	for _, c := range conds {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// applied counts the configs the nodes took over mutual TLS.
func applied(w *simworld.World, name string) int {
	n := 0
	for _, h := range nodeNames(name, 3, 2) {
		n += len(w.Sim.Node(h).AppliedConfigs())
	}
	return n
}

// TestKubernetesUpgrade upgrades the control plane and the kubelets of 3
// control planes and 2 workers by one minor version; a dry run before
// changes nothing, a second run finds nothing to do, and the requests the
// rules refuse exit 2 with nothing changed.
func TestKubernetesUpgrade(t *testing.T) {
	w, b := deployOldKubernetes(t, sim.Options{}, "ku")
	args := []string{"upgrade", "--name", "ku", "--kubernetes-version", newKubernetes}

	dry := w.MustRun(append(args, "--dry-run")...)
	for _, want := range []string{"ku-cp1 (controlplane): kube-apiserver " + oldKubernetes + " → " + newKubernetes, "ku-worker2 (worker): kubelet " + oldKubernetes + " → " + newKubernetes, "kube-proxy"} {
		if !contains(dry.Stderr+dry.Stdout, want) {
			t.Errorf("the dry run does not say %q:\n%s", want, dry.Stderr)
		}
	}
	if applied(w, "ku") != 0 {
		t.Fatalf("the dry run applied a config")
	}

	for _, refused := range [][]string{
		{"upgrade", "--name", "ku", "--kubernetes-version", "v1.34.1"},                                   // a downgrade
		{"upgrade", "--name", "ku", "--kubernetes-version", "v1.37.0"},                                   // two minors
		{"upgrade", "--name", "ku", "--kubernetes-version", newKubernetes, "--talos-version", "v1.13.9"}, // both
	} {
		r := w.Run(append(refused, "--yes")...)
		if r.Code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", refused, r.Code, r)
		}
		t.Logf("%v: %s", refused[3:], strings.TrimSpace(r.Stderr))
	}
	if applied(w, "ku") != 0 || w.Journal("ku").FactsCopy().Operation != "" {
		t.Fatalf("a refused request changed the cluster")
	}

	pods := watchStaticPods(t, w, newKubernetes)
	start := time.Now()
	w.MustRun(append(args, "--yes")...)
	t.Logf("upgraded in %s", time.Since(start).Round(time.Millisecond))
	checkKubernetesUpgraded(t, w, "ku", b)
	pods.checkOneAtATime(t, "ku")
	before := applied(w, "ku")
	if before != 3*4+2 {
		t.Errorf("%d configs applied, want one per static pod of each control plane and one per kubelet (14)", before)
	}

	again := w.MustRun(append(args, "--yes")...)
	if !contains(again.Stderr, "already") || applied(w, "ku") != before {
		t.Errorf("a second upgrade does not say there is nothing to do, or applied configs:\n%s", again.Stderr)
	}
	r := w.Run("upgrade", "--name", "ku", "--kubernetes-version", oldKubernetes, "--yes")
	if r.Code != 2 || applied(w, "ku") != before {
		t.Errorf("a downgrade after the upgrade: exit %d, configs applied %d (was %d)\n%s", r.Code, applied(w, "ku"), before, r)
	}
}

// TestKubernetesUpgradeResumesAfterKill kills the upgrade with SIGKILL at
// a seeded point, drawn as "just after the k-th config was applied, plus
// up to 300 ms", so it lands while a static pod or a kubelet restarts;
// the same command run again finishes in the same state.
func TestKubernetesUpgradeResumesAfterKill(t *testing.T) {
	seed := simworld.KillSeed(t, killSeedEnv)
	rng := rand.New(rand.NewPCG(seed, 1))
	k := 1 + rng.IntN(14)
	extra := time.Duration(rng.Float64() * float64(300*time.Millisecond))
	w, b := deployOldKubernetes(t, sim.Options{Seed: rng.Uint64()}, "kk")
	args := []string{"upgrade", "--name", "kk", "--kubernetes-version", newKubernetes, "--yes"}
	first := w.Start(args...)
	killed, err := first.KillWhen(func() {
		for deadline := time.Now().Add(3 * time.Minute); applied(w, "kk") < k && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(extra)
	})
	if !killed {
		t.Fatalf("seed %d: the upgrade ended before config %d was applied (%v):\n%s", seed, k, err, first.Output())
	}
	t.Logf("seed %d: killed %s after config %d of 14 was applied; in progress: %q", seed, extra.Round(time.Millisecond), k, w.Journal("kk").FactsCopy().Operation)
	w.MustRun(args...)
	checkKubernetesUpgraded(t, w, "kk", b)
	if n := applied(w, "kk"); n != 14 {
		t.Errorf("%d configs applied over both runs, want 14: a finished component was patched again", n)
	}
}
