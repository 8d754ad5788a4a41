package argocd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/platform"
	"github.com/cto-platform/cto/internal/platform/platformtest"
	"github.com/cto-platform/cto/test/controllers/argocd"
	"github.com/cto-platform/cto/test/controllers/controllerstest"
	"github.com/cto-platform/cto/test/kubeenv"
)

func TestMain(m *testing.M) { kubeenv.Main(m) }

// The health rules, case by case (gitops-engine pkg/health and Argo CD's
// cert-manager health checks).
func TestResourceHealth(t *testing.T) {
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"deployment rolled out", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 2}\nspec: {replicas: 2}\nstatus: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2}", "Healthy"},
		{"deployment not observed", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 3}\nspec: {replicas: 2}\nstatus: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2}", "Progressing"},
		{"deployment unavailable", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 1}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 0}", "Progressing"},
		{"deployment past its deadline", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, generation: 1}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1, conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded}]}", "Degraded"},
		{"statefulset ready", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s, generation: 1}\nspec: {replicas: 1, updateStrategy: {type: RollingUpdate}}\nstatus: {observedGeneration: 1, readyReplicas: 1, currentRevision: a, updateRevision: a}", "Healthy"},
		{"statefulset waiting", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s, generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 1}", "Progressing"},
		{"daemonset on no node yet", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds, generation: 1}\nstatus: {observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2}", "Progressing"},
		{"load balancer without address", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}", "Progressing"},
		{"load balancer with address", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 10.0.0.1}]}}", "Healthy"},
		{"cluster IP service", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: ClusterIP}", "Healthy"},
		{"ingress without address", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}", "Progressing"},
		{"claim pending", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nstatus: {phase: Pending}", "Progressing"},
		{"claim bound", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nstatus: {phase: Bound}", "Healthy"},
		{"claim lost", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nstatus: {phase: Lost}", "Degraded"},
		{"job failed", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Failed, status: 'True', message: BackoffLimitExceeded}]}", "Degraded"},
		{"job complete", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nstatus: {conditions: [{type: Complete, status: 'True'}]}", "Healthy"},
		{"certificate not ready", "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\nstatus: {conditions: [{type: Ready, status: 'False', message: no issuer}]}", "Degraded"},
		{"pod running and ready", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Always}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'True'}]}", "Healthy"},
		{"pod running, not ready", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Always}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'False'}]}", "Progressing"},
		{"hook pod still running", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Never}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'True'}]}", "Progressing"},
		{"issuer new", "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: i}", "Progressing"},
	} {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(c.yaml), &obj); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		h := argocd.ResourceHealth(&unstructured.Unstructured{Object: obj})
		if h == nil || h.Status != c.want {
			t.Errorf("%s: health %+v, want %s", c.name, h, c.want)
		}
	}
	if h := argocd.ResourceHealth(&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}); h != nil {
		t.Errorf("a ConfigMap has health %+v; Argo CD has no check for it", h)
	}
}

// demoChart holds what a sync must order and judge: a pre-install hook
// Job, a ConfigMap, a Deployment of a later wave, a Service whose type is
// a value, a Helm test Pod Argo CD never runs, and, when withWidget is
// set, a custom resource of a CRD the chart does not bring.
func demoChart(name string, withWidget bool) *chart.Chart {
	ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: name, Version: "1.0.0"}}
	add := func(file, body string) {
		ch.Templates = append(ch.Templates, &common.File{Name: "templates/" + file, Data: []byte(body)})
	}
	add("hook.yaml", `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-pre
  annotations: {helm.sh/hook: pre-install}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: registry.invalid/pre:1}]
`)
	add("config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-config'}\ndata: {a: b}\n")
	add("deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  annotations: {argocd.argoproj.io/sync-wave: "1"}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers: [{name: main, image: registry.invalid/main:1}]
`)
	add("service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: '{{ .Release.Name }}'}\nspec: {type: '{{ .Values.serviceType }}', selector: {app: '{{ .Release.Name }}'}, ports: [{port: 80}]}\n")
	add("test.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: '{{ .Release.Name }}-test', annotations: {helm.sh/hook: test}}\nspec: {containers: [{name: t, image: registry.invalid/t:1}]}\n")
	if withWidget {
		add("widget.yaml", "apiVersion: example.test/v1\nkind: Widget\nmetadata: {name: '{{ .Release.Name }}'}\n")
	}
	ch.Values = map[string]any{"serviceType": "ClusterIP"}
	return ch
}

type cluster struct {
	t   *testing.T
	kc  kubernetes.Interface
	dyn dynamic.Interface
}

var appGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// waitApp waits until the Application's status satisfies ok.
func (c cluster) waitApp(name string, what string, ok func(status map[string]any) bool) map[string]any {
	c.t.Helper()
	var status map[string]any
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		app, err := c.dyn.Resource(appGVR).Namespace("argocd").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		status, _, _ = unstructured.NestedMap(app.Object, "status")
		if status != nil && ok(status) {
			return status
		}
	}
	c.t.Fatalf("Application %s never %s; status %v", name, what, status)
	return nil
}

func str(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}

// The double syncs as Argo CD does: it waits for Argo CD to run, runs the
// pre-install hook before the resources and the later wave after the
// earlier, never runs a Helm test, reports a LoadBalancer Service without
// an address Progressing, and retries a failed sync only when the
// Application's retry policy asks it.
func TestSyncAsArgoCD(t *testing.T) {
	shared := controllerstest.Shared(t, 4*time.Minute, kubeenv.Node{Name: "node-1", CPU: 8, MemoryGiB: 32, InternalIP: "10.8.0.1"})
	ctx, cfg := shared.Ctx, shared.Config
	c := cluster{t: t, kc: shared.Kube, dyn: shared.Dynamic}

	// A Helm repository with the demo charts.
	repoURL := platformtest.ServeCharts(t, demoChart("demo", false), demoChart("late", true))

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go argocd.Run(runCtx, cfg, argocd.Options{Interval: 50 * time.Millisecond, Speed: 20})

	// Argo CD itself, from its chart's model, and the project.
	comps, err := platform.SelectComponents(platform.Selection{Profile: "minimal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, comp := range comps {
		if comp.Name == "argo-cd" {
			if _, err := platformtest.Install(ctx, cfg, comp, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	apply := func(doc string) {
		t.Helper()
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: obj}
		gvr := appGVR
		if u.GetKind() == "AppProject" {
			gvr.Resource = "appprojects"
		}
		if _, err := c.dyn.Resource(gvr).Namespace("argocd").Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	apply(fmt.Sprintf(`{apiVersion: argoproj.io/v1alpha1, kind: AppProject, metadata: {name: p, namespace: argocd},
  spec: {sourceRepos: [%q], destinations: [{server: "https://kubernetes.default.svc", namespace: "*"}]}}`, repoURL))
	application := func(name, serviceType string, retry bool) string {
		policy := `{automated: {prune: true, selfHeal: true}, syncOptions: [ServerSideApply=true, CreateNamespace=true]}`
		if retry {
			policy = `{automated: {prune: true, selfHeal: true}, syncOptions: [ServerSideApply=true, CreateNamespace=true], retry: {limit: -1, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}}`
		}
		chartName := name
		if strings.HasPrefix(name, "late") {
			chartName = "late"
		}
		return fmt.Sprintf(`{apiVersion: argoproj.io/v1alpha1, kind: Application, metadata: {name: %s, namespace: argocd},
  spec: {project: p, source: {repoURL: %q, chart: %s, targetRevision: 1.0.0, helm: {releaseName: %s, valuesObject: {serviceType: %s}}},
    destination: {server: "https://kubernetes.default.svc", namespace: %s}, syncPolicy: %s}}`, name, repoURL, chartName, name, serviceType, name, policy)
	}

	apply(application("demo", "ClusterIP", true))
	c.waitApp("demo", "became Synced and Healthy", func(s map[string]any) bool {
		return str(s, "sync", "status") == "Synced" && str(s, "health", "status") == "Healthy"
	})
	job, err := c.kc.BatchV1().Jobs("demo").Get(ctx, "demo-pre", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the pre-install hook did not run: %v", err)
	}
	dep, err := c.kc.AppsV1().Deployments("demo").Get(ctx, "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status.CompletionTime == nil || dep.CreationTimestamp.Before(job.Status.CompletionTime) {
		t.Errorf("the Deployment was created at %v, before its pre-install hook completed (%v)", dep.CreationTimestamp, job.Status.CompletionTime)
	}
	cm, err := c.kc.CoreV1().ConfigMaps("demo").Get(ctx, "demo-config", metav1.GetOptions{})
	if err != nil || dep.CreationTimestamp.Before(&cm.CreationTimestamp) {
		t.Errorf("wave 1 (the Deployment, %v) was applied before wave 0 (the ConfigMap, %v): %v", dep.CreationTimestamp, cm, err)
	}
	if _, err := c.kc.CoreV1().Pods("demo").Get(ctx, "demo-test", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Helm test pod was created: %v", err)
	}
	if got := dep.Annotations[argocd.TrackingAnnotation]; got != "demo:apps/Deployment:demo/demo" {
		t.Errorf("tracking annotation %q", got)
	}

	// A LoadBalancer Service nobody gives an address is Progressing, and,
	// in wave 0 of a sync with a later wave, holds the sync there.
	patch := []byte(`{"spec":{"source":{"helm":{"valuesObject":{"serviceType":"LoadBalancer"}}}}}`)
	if _, err := c.dyn.Resource(appGVR).Namespace("argocd").Patch(ctx, "demo", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	status := c.waitApp("demo", "waited for the LoadBalancer Service", func(s map[string]any) bool {
		return str(s, "health", "status") == "Progressing" && str(s, "operationState", "message") == "waiting for healthy state of /Service/demo"
	})
	found := false
	for _, r := range status["resources"].([]any) {
		m := r.(map[string]any)
		found = found || (m["kind"] == "Service" && str(m, "health", "status") == "Progressing")
	}
	if !found {
		t.Errorf("no Progressing Service among %v", status["resources"])
	}

	// A custom resource of a CRD not there yet fails the sync; once the CRD
	// exists, only the Application with a retry policy gets there.
	apply(application("late", "ClusterIP", true))
	apply(application("late-once", "ClusterIP", false))
	c.waitApp("late-once", "failed its sync", func(s map[string]any) bool {
		return str(s, "operationState", "phase") == "Failed" && strings.Contains(str(s, "operationState", "message"), "Widget")
	})
	c.waitApp("late", "retried", func(s map[string]any) bool {
		return strings.Contains(str(s, "operationState", "message"), "Retrying attempt")
	})
	crd := `{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.test},
  spec: {group: example.test, names: {kind: Widget, plural: widgets}, scope: Namespaced,
    versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]}}`
	var obj map[string]any
	yaml.Unmarshal([]byte(crd), &obj)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := c.dyn.Resource(crdGVR).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitApp("late", "synced after the retry", func(s map[string]any) bool {
		return str(s, "sync", "status") == "Synced" && str(s, "health", "status") == "Healthy"
	})
	time.Sleep(time.Second)
	s := c.waitApp("late-once", "stayed failed", func(s map[string]any) bool { return true })
	if str(s, "operationState", "phase") != "Failed" || str(s, "sync", "status") == "Synced" {
		t.Errorf("without a retry policy a failed sync was tried again: %v", s["operationState"])
	}
}
