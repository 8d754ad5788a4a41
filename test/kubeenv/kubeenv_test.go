package kubeenv

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { Main(m) }

func TestPlayerMakesDeploymentsAvailable(t *testing.T) {
	env := Require(t)
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c := kubernetes.NewForConfigOrDie(cfg)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "play"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "play"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &three,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
		},
	}
	if _, err := c.AppsV1().Deployments("play").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := c.AppsV1().Deployments("play").Get(ctx, "web", metav1.GetOptions{})
	if got.Status.AvailableReplicas != 0 {
		t.Fatalf("a fresh Deployment is available without a controller: %+v", got.Status)
	}

	p, err := NewPlayer(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = c.AppsV1().Deployments("play").Get(ctx, "web", metav1.GetOptions{})
	if got.Status.AvailableReplicas != 3 || got.Status.ObservedGeneration != got.Generation {
		t.Fatalf("status after play = %+v, want 3 available", got.Status)
	}
	rv := got.ResourceVersion
	if err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = c.AppsV1().Deployments("play").Get(ctx, "web", metav1.GetOptions{})
	if got.ResourceVersion != rv {
		t.Fatalf("a second pass rewrote a settled Deployment (%s -> %s)", rv, got.ResourceVersion)
	}
}
