package kubeenv

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ApplicationGVR is Argo CD's Application resource.
var ApplicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// Player does what the controllers of a real cluster would: it reports
// Deployments, StatefulSets and DaemonSets available, Argo CD Applications
// Synced and Healthy, and creates Argo CD's initial admin secret. It only
// writes when something differs, so a settled cluster stays unchanged.
type Player struct {
	client  kubernetes.Interface
	dynamic dynamic.Interface

	mu        sync.Mutex
	unhealthy map[string]string
}

// NewPlayer connects to the cluster of a kubeconfig file.
func NewPlayer(kubeconfig string) (*Player, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Player{client: c, dynamic: d, unhealthy: map[string]string{}}, nil
}

// Unhealthy keeps an Application Degraded with message, as a component that
// never comes up would; an empty message lets it heal.
func (p *Player) Unhealthy(app, message string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if message == "" {
		delete(p.unhealthy, app)
		return
	}
	p.unhealthy[app] = message
}

// Run plays every interval until ctx ends. Errors are retried on the next
// round (resources come and go while a deploy runs).
func (p *Player) Run(ctx context.Context, interval time.Duration) {
	for {
		p.Step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Start plays in the background until the returned stop is called.
func (p *Player) Start(interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx, interval); close(done) }()
	return func() { cancel(); <-done }
}

// Step makes one pass over the cluster.
func (p *Player) Step(ctx context.Context) error {
	var errs []error
	if err := p.workloads(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := p.argoSecret(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := p.applications(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("player: %v", errs)
	}
	return nil
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func (p *Player) workloads(ctx context.Context) error {
	apps := p.client.AppsV1()
	deps, err := apps.Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range deps.Items {
		d := &deps.Items[i]
		n := replicas(d.Spec.Replicas)
		want := appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}},
		}
		if d.Status.ObservedGeneration == want.ObservedGeneration && d.Status.AvailableReplicas == n && d.Status.UpdatedReplicas == n && len(d.Status.Conditions) > 0 {
			continue
		}
		d.Status = want
		if _, err := apps.Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	sets, err := apps.StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range sets.Items {
		s := &sets.Items[i]
		n := replicas(s.Spec.Replicas)
		if s.Status.ObservedGeneration == s.Generation && s.Status.ReadyReplicas == n && s.Status.AvailableReplicas == n {
			continue
		}
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: n, ReadyReplicas: n, CurrentReplicas: n, UpdatedReplicas: n, AvailableReplicas: n}
		if _, err := apps.StatefulSets(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	dss, err := apps.DaemonSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range dss.Items {
		d := &dss.Items[i]
		if d.Status.ObservedGeneration == d.Generation && d.Status.NumberAvailable == 1 && d.Status.DesiredNumberScheduled == 1 {
			continue
		}
		// One node in the play cluster.
		d.Status = appsv1.DaemonSetStatus{ObservedGeneration: d.Generation, CurrentNumberScheduled: 1, DesiredNumberScheduled: 1, NumberReady: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1}
		if _, err := apps.DaemonSets(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// argoSecret creates argocd-initial-admin-secret once argocd-server exists,
// as Argo CD's server does on its first start.
func (p *Player) argoSecret(ctx context.Context) error {
	if _, err := p.client.AppsV1().Deployments("argocd").Get(ctx, "argocd-server", metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "argocd-initial-admin-secret", Namespace: "argocd"},
		Data:       map[string][]byte{"password": []byte(randomHex(8))},
	}
	_, err := p.client.CoreV1().Secrets("argocd").Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (p *Player) applications(ctx context.Context) error {
	list, err := p.dynamic.Resource(ApplicationGVR).Namespace("").List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil // Argo CD's CRDs are not installed yet
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	unhealthy := make(map[string]string, len(p.unhealthy))
	for k, v := range p.unhealthy {
		unhealthy[k] = v
	}
	p.mu.Unlock()
	for i := range list.Items {
		app := &list.Items[i]
		health, message := "Healthy", ""
		if m, bad := unhealthy[app.GetName()]; bad {
			health, message = "Degraded", m
		}
		revision, _, _ := unstructured.NestedString(app.Object, "spec", "source", "targetRevision")
		status := map[string]any{
			"sync":   map[string]any{"status": "Synced", "revision": revision},
			"health": map[string]any{"status": health},
		}
		if message != "" {
			status["health"].(map[string]any)["message"] = message
		}
		old, _, _ := unstructured.NestedMap(app.Object, "status")
		if equalStatus(old, status) {
			continue
		}
		app.Object["status"] = status
		if _, err := p.dynamic.Resource(ApplicationGVR).Namespace(app.GetNamespace()).Update(ctx, app, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

func equalStatus(a, b map[string]any) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}
