package provisioner

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cto-platform/cto/test/controllers/controllerstest"
	"github.com/cto-platform/cto/test/kubeenv"
)

// A claim of local-path (WaitForFirstConsumer) gets its volume once the
// real scheduler picked its pod's node: the helper pod must pass Pod
// Security in the provisioner's namespace (baseline, Talos's default,
// forbids its hostPath), the PV is a hostPath on that node, the real PV
// controller binds it and the pod runs there. A Longhorn claim (Immediate)
// gets a CSI volume once longhorn-storageclass became a StorageClass.
func TestProvisionsWhatTheRealProvisionersProvision(t *testing.T) {
	cluster := controllerstest.Start(t, 3*time.Minute, kubeenv.Node{Name: "worker1", CPU: 4, MemoryGiB: 8, InternalIP: "10.8.0.2"})
	ctx, cfg, kc := cluster.Ctx, cluster.Config, cluster.Kube
	for _, ns := range []string{"local-path-storage", "apps", "longhorn-system"} {
		cluster.Namespace(t, ns, nil)
	}
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	del := corev1.PersistentVolumeReclaimDelete
	mustCreate(t, func() error {
		_, err := kc.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path"},
			Provisioner: "cluster.local/local-path-provisioner", VolumeBindingMode: &wffc, ReclaimPolicy: &del}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := kc.CoreV1().ConfigMaps("local-path-storage").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: localPathConfig}, Data: map[string]string{
			"config.json":    `{"nodePathMap":[{"node":"DEFAULT_PATH_FOR_NON_LISTED_NODES","paths":["/var/lib/local-path-provisioner"]}]}`,
			"helperPod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: helper-pod\nspec:\n  containers:\n    - name: helper-pod\n      image: busybox:latest\n",
		}}, metav1.CreateOptions{})
		return err
	})
	mustCreate(t, func() error {
		_, err := kc.CoreV1().PersistentVolumeClaims("apps").Create(ctx, claim("data", "local-path"), metav1.CreateOptions{})
		return err
	})
	// The ServiceAccount admission plugin refuses pods until the
	// controller-manager created the namespace's default ServiceAccount.
	waitFor(t, ctx, "ServiceAccount apps/default", func() bool {
		_, err := kc.CoreV1().ServiceAccounts("apps").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	mustCreate(t, func() error {
		_, err := kc.CoreV1().Pods("apps").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "db", Image: "example/db:1", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
		}}, metav1.CreateOptions{})
		return err
	})

	// The scheduler selects the node and the PV controller names the
	// provisioner; in a baseline namespace the helper pod is forbidden.
	var stepErr error
	waitFor(t, ctx, "a refused helper pod", func() bool {
		stepErr = Step(ctx, kc)
		return stepErr != nil && strings.Contains(stepErr.Error(), "violates PodSecurity")
	})
	if pvs, _ := kc.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{}); len(pvs.Items) != 0 {
		t.Fatalf("a volume was provisioned although the helper pod was forbidden: %v", pvs.Items[0].Name)
	}

	// Privileged, as the catalog labels local-path-storage: provisioned.
	ns, _ := kc.CoreV1().Namespaces().Get(ctx, "local-path-storage", metav1.GetOptions{})
	ns.Labels["pod-security.kubernetes.io/enforce"] = "privileged"
	if _, err := kc.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = Run(runCtx, cfg) }()
	waitFor(t, ctx, "claim apps/data Bound and pod db Running", func() bool {
		c, err := kc.CoreV1().PersistentVolumeClaims("apps").Get(ctx, "data", metav1.GetOptions{})
		if err != nil || c.Status.Phase != corev1.ClaimBound {
			return false
		}
		p, err := kc.CoreV1().Pods("apps").Get(ctx, "db", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	})
	c, _ := kc.CoreV1().PersistentVolumeClaims("apps").Get(ctx, "data", metav1.GetOptions{})
	pv, err := kc.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPath := "/var/lib/local-path-provisioner/pvc-" + string(c.UID) + "_apps_data"
	if pv.Name != "pvc-"+string(c.UID) || pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != wantPath {
		t.Errorf("PV %s %+v, want pvc-<uid> on hostPath %s", pv.Name, pv.Spec.PersistentVolumeSource, wantPath)
	}
	if v := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]; v.Key != "kubernetes.io/hostname" || v.Values[0] != "worker1" {
		t.Errorf("PV node affinity %+v, want kubernetes.io/hostname in [worker1]", v)
	}
	if pv.Annotations[annProvisionedBy] != "cluster.local/local-path-provisioner" {
		t.Errorf("PV annotations %v", pv.Annotations)
	}

	// Longhorn: the manager's StorageClass from its ConfigMap, then an
	// Immediate claim bound to a CSI volume without any pod.
	mustCreate(t, func() error {
		_, err := kc.CoreV1().ConfigMaps("longhorn-system").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: longhornStorageClassConfig}, Data: map[string]string{
			"storageclass.yaml": "kind: StorageClass\napiVersion: storage.k8s.io/v1\nmetadata:\n  name: longhorn\nprovisioner: driver.longhorn.io\nreclaimPolicy: Delete\nvolumeBindingMode: Immediate\n",
		}}, metav1.CreateOptions{})
		return err
	})
	waitFor(t, ctx, "StorageClass longhorn", func() bool {
		_, err := kc.StorageV1().StorageClasses().Get(ctx, "longhorn", metav1.GetOptions{})
		return err == nil
	})
	mustCreate(t, func() error {
		_, err := kc.CoreV1().PersistentVolumeClaims("apps").Create(ctx, claim("replicated", "longhorn"), metav1.CreateOptions{})
		return err
	})
	waitFor(t, ctx, "claim apps/replicated Bound", func() bool {
		c, err := kc.CoreV1().PersistentVolumeClaims("apps").Get(ctx, "replicated", metav1.GetOptions{})
		return err == nil && c.Status.Phase == corev1.ClaimBound
	})
	c, _ = kc.CoreV1().PersistentVolumeClaims("apps").Get(ctx, "replicated", metav1.GetOptions{})
	if pv, _ := kc.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{}); pv.Spec.CSI == nil || pv.Spec.CSI.Driver != "driver.longhorn.io" {
		t.Errorf("longhorn PV %+v", pv.Spec.PersistentVolumeSource)
	}
}

func claim(name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: &class,
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}}
}

func mustCreate(t *testing.T, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
