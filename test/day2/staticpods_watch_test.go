package day2

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cto-platform/cto/test/simworld"
)

// staticPodWatch follows the control planes' mirror pods from the API
// server's side (through the datacenter's own connection, which no
// restarting kube-apiserver cuts): when each pod of an old image went
// away and when the pod of the new image first was Ready.
type staticPodWatch struct {
	mu        sync.Mutex
	gone      map[string]time.Time // by pod name: the old image's pod deleted
	readyNew  map[string]time.Time // by pod name: the new image's pod Ready
	newImages map[string]string
	stop      chan struct{}
}

func watchStaticPods(t *testing.T, w *simworld.World, version string) *staticPodWatch {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", w.Sim.Kube().Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	sw := &staticPodWatch{gone: map[string]time.Time{}, readyNew: map[string]time.Time{}, stop: make(chan struct{})}
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace("kube-system"))
	inf := f.Core().V1().Pods().Informer()
	saw := func(o any, deleted bool) {
		p, ok := o.(*corev1.Pod)
		if !ok {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				p, _ = d.Obj.(*corev1.Pod)
			}
		}
		if p == nil || p.Labels["tier"] != "control-plane" || len(p.Spec.Containers) == 0 {
			return
		}
		isNew := p.Spec.Containers[0].Image == "registry.k8s.io/"+p.Labels["k8s-app"]+":"+version
		sw.mu.Lock()
		defer sw.mu.Unlock()
		now := time.Now()
		switch {
		case !isNew && (deleted || p.DeletionTimestamp != nil):
			if _, ok := sw.gone[p.Name]; !ok {
				sw.gone[p.Name] = now
			}
		case isNew && !deleted && podIsReady(p.Status.Conditions):
			if _, ok := sw.readyNew[p.Name]; !ok {
				sw.readyNew[p.Name] = now
			}
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { saw(o, false) },
		UpdateFunc: func(_, o any) { saw(o, false) },
		DeleteFunc: func(o any) { saw(o, true) },
	})
	f.Start(sw.stop)
	f.WaitForCacheSync(sw.stop)
	t.Cleanup(func() { close(sw.stop) })
	return sw
}

// checkOneAtATime asserts the static pods were upgraded in talosctl's
// order and one at a time: each pod of the new image was Ready before the
// next one in order lost its old pod.
func (sw *staticPodWatch) checkOneAtATime(t *testing.T, name string) {
	t.Helper()
	var order []string
	for _, sp := range staticPods {
		for i := 1; i <= 3; i++ {
			order = append(order, fmt.Sprintf("%s-%s-cp%d", sp, name, i))
		}
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for i, pod := range order {
		gone, ready := sw.gone[pod], sw.readyNew[pod]
		if gone.IsZero() || ready.IsZero() {
			t.Errorf("%s: old pod gone at %v, new one Ready at %v: not seen restarting", pod, gone, ready)
			continue
		}
		if i+1 < len(order) {
			if next := sw.gone[order[i+1]]; !next.IsZero() && next.Before(ready) {
				t.Errorf("%s went down %s before %s was Ready on its new image", order[i+1], ready.Sub(next), pod)
			}
		}
	}
}
