// Package provisioner is a test double of the volume provisioners the
// catalog installs: rancher/local-path-provisioner (v0.0.37) and Longhorn's
// CSI driver (1.12.1). Against a real API server whose kube-scheduler and
// kube-controller-manager run, it creates the PersistentVolume the real
// provisioner creates for each claim it is asked to provision; the
// controller-manager's PV controller binds it. Each rule names its source.
package provisioner

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

const (
	// The PV controller (kube-controller-manager, pkg/controller/volume/
	// persistentvolume) names the provisioner a claim waits for here.
	annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	// kube-scheduler's VolumeBinding plugin names the node for a
	// WaitForFirstConsumer claim here (AnnSelectedNode).
	annSelectedNode = "volume.kubernetes.io/selected-node"
	// sig-storage-lib-external-provisioner marks the PVs it provisions.
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// local-path-provisioner provisioner.go nodeNameAnnotationKey.
	annLocalPathNode = "local.path.provisioner/selected-node"
	// local-path-provisioner provisioner.go DefaultNodeAffinityKey.
	nodeAffinityKey = "kubernetes.io/hostname"
	// local-path-provisioner's chart: the ConfigMap holding config.json
	// and helperPod.yaml (templates/configmap.yaml).
	localPathConfig = "local-path-config"
	// Longhorn's chart: the StorageClass is a ConfigMap the manager
	// applies (chart/templates/storageclass.yaml).
	longhornStorageClassConfig = "longhorn-storageclass"
	longhornDriver             = "driver.longhorn.io"
)

// Run provisions until ctx ends, polling; it writes only what changed.
func Run(ctx context.Context, cfg *rest.Config) error {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := Step(ctx, kc); err != nil && ctx.Err() == nil {
			// Like the real controllers: log-and-retry, never give up.
			_ = err
		}
	}, 200*time.Millisecond)
	return nil
}

// Step runs one pass: Longhorn's StorageClass, then every claim waiting
// for one of the provisioners.
func Step(ctx context.Context, kc kubernetes.Interface) error {
	cms, err := kc.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var localPath *corev1.ConfigMap
	for i := range cms.Items {
		cm := &cms.Items[i]
		switch cm.Name {
		case localPathConfig:
			localPath = cm
		case longhornStorageClassConfig:
			if err := applyLonghornClass(ctx, kc, cm); err != nil {
				return err
			}
		}
	}
	pvcs, err := kc.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var errs []string
	for i := range pvcs.Items {
		if err := provision(ctx, kc, &pvcs.Items[i], localPath); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// applyLonghornClass creates the StorageClass of ConfigMap
// longhorn-storageclass when it does not exist, as longhorn-manager does.
func applyLonghornClass(ctx context.Context, kc kubernetes.Interface, cm *corev1.ConfigMap) error {
	var sc storagev1.StorageClass
	if err := yaml.Unmarshal([]byte(cm.Data["storageclass.yaml"]), &sc); err != nil {
		return fmt.Errorf("%s/%s: %w", cm.Namespace, cm.Name, err)
	}
	if _, err := kc.StorageV1().StorageClasses().Get(ctx, sc.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return err
	}
	_, err := kc.StorageV1().StorageClasses().Create(ctx, &sc, metav1.CreateOptions{})
	return err
}

// isLocalPath reports whether a provisioner name is local-path's: the chart
// names it cluster.local/<fullname> (_helpers.tpl provisionerName), the
// upstream manifests rancher.io/local-path.
func isLocalPath(name string) bool {
	return name == "rancher.io/local-path" || strings.HasPrefix(name, "cluster.local/") && strings.HasSuffix(name, "local-path-provisioner")
}

func provision(ctx context.Context, kc kubernetes.Interface, pvc *corev1.PersistentVolumeClaim, localPath *corev1.ConfigMap) error {
	// sig-storage-lib-external-provisioner controller.go shouldProvision: a
	// Pending claim without a volume, whose storage-provisioner annotation
	// (set by the PV controller) names this provisioner.
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.Spec.StorageClassName == nil {
		return nil
	}
	prov := pvc.Annotations[annStorageProvisioner]
	if !isLocalPath(prov) && prov != longhornDriver {
		return nil
	}
	sc, err := kc.StorageV1().StorageClasses().Get(ctx, *pvc.Spec.StorageClassName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if sc.Provisioner != prov {
		return nil
	}
	// controller.go: a WaitForFirstConsumer claim is provisioned only once
	// the scheduler selected a node for its pod.
	var node *corev1.Node
	if sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		name := pvc.Annotations[annSelectedNode]
		if name == "" {
			return nil
		}
		if node, err = kc.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
	// controller.go getProvisionedVolumeNameForClaim: "pvc-" + claim UID.
	pvName := "pvc-" + string(pvc.UID)
	if _, err := kc.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return err // exists (written once), or the API failed
	}
	var pv *corev1.PersistentVolume
	if isLocalPath(prov) {
		pv, err = localPathVolume(ctx, kc, pvc, sc, node, pvName, localPath)
	} else {
		pv = longhornVolume(pvc, pvName)
	}
	if err != nil {
		return fmt.Errorf("claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	// controller.go provisionClaimOperation: the library sets the claim
	// reference, the class and the provisioned-by annotation.
	pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion}
	pv.Spec.StorageClassName = sc.Name
	if pv.Annotations == nil {
		pv.Annotations = map[string]string{}
	}
	pv.Annotations[annProvisionedBy] = prov
	if sc.ReclaimPolicy != nil {
		pv.Spec.PersistentVolumeReclaimPolicy = *sc.ReclaimPolicy
	}
	pv.Spec.AccessModes = pvc.Spec.AccessModes
	pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]}
	fs := corev1.PersistentVolumeFilesystem
	pv.Spec.VolumeMode = &fs
	_, err = kc.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	return err
}

// localPathConfigJSON is config.json of local-path-config.
type localPathConfigJSON struct {
	NodePathMap []struct {
		Node  string   `json:"node"`
		Paths []string `json:"paths"`
	} `json:"nodePathMap"`
}

// localPathVolume follows local-path-provisioner v0.0.37 provisioner.go
// provisionFor: only ReadWriteOnce(Pod) without a selector on a selected
// node; the node's path from nodePathMap (or
// DEFAULT_PATH_FOR_NON_LISTED_NODES); the directory <pv>_<ns>_<claim>
// made by a helper pod in the provisioner's namespace (which Pod Security
// must admit: it mounts the parent directory through hostPath); a hostPath
// PV (defaultVolumeType) with node affinity kubernetes.io/hostname.
func localPathVolume(ctx context.Context, kc kubernetes.Interface, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, node *corev1.Node, pvName string, cfg *corev1.ConfigMap) (*corev1.PersistentVolume, error) {
	if cfg == nil {
		return nil, fmt.Errorf("no ConfigMap %s: the provisioner is not installed", localPathConfig)
	}
	if pvc.Spec.Selector != nil {
		return nil, fmt.Errorf("claim.Spec.Selector is not supported")
	}
	for _, m := range pvc.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return nil, fmt.Errorf("NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes")
		}
	}
	if node == nil {
		return nil, fmt.Errorf("configuration error, no node was specified")
	}
	var conf localPathConfigJSON
	if err := json.Unmarshal([]byte(cfg.Data["config.json"]), &conf); err != nil {
		return nil, fmt.Errorf("%s config.json: %w", localPathConfig, err)
	}
	base := ""
	for _, m := range conf.NodePathMap {
		if len(m.Paths) > 0 && (m.Node == node.Name || m.Node == "DEFAULT_PATH_FOR_NON_LISTED_NODES" && base == "") {
			base = m.Paths[0]
		}
	}
	if base == "" {
		return nil, fmt.Errorf("no local path is available on node %s", node.Name)
	}
	path := filepath.Join(base, strings.Join([]string{pvName, pvc.Namespace, pvc.Name}, "_"))
	var tmpl corev1.Pod
	if err := yaml.Unmarshal([]byte(cfg.Data["helperPod.yaml"]), &tmpl); err != nil {
		return nil, fmt.Errorf("%s helperPod.yaml: %w", localPathConfig, err)
	}
	helper := HelperPod(tmpl, cfg.Namespace, node.Name, path, pvName)
	if _, err := kc.CoreV1().Pods(cfg.Namespace).Create(ctx, helper, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create helper pod: %w", err)
	}
	// The real provisioner waits for the helper to succeed, then deletes
	// it; simulated nodes do not run its script, so it goes at once.
	_ = kc.CoreV1().Pods(cfg.Namespace).Delete(ctx, helper.Name, metav1.DeleteOptions{})
	value, ok := node.Labels[nodeAffinityKey]
	if !ok {
		value = node.Name
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName, Annotations: map[string]string{annLocalPathNode: node.Name}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &dirOrCreate}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: nodeAffinityKey, Operator: corev1.NodeSelectorOpIn, Values: []string{value}}},
			}}}},
		},
	}, nil
}

// HelperPod is the pod local-path-provisioner v0.0.37 runs to create a
// volume's directory (provisioner.go createHelperPod): the helperPod.yaml
// template with the parent directory mounted through hostPath
// (DirectoryOrCreate), on the volume's node, in the provisioner's
// namespace, never restarted, tolerating disk pressure.
func HelperPod(tmpl corev1.Pod, namespace, node, path, pvName string) *corev1.Pod {
	p := tmpl.DeepCopy()
	parent, dir := filepath.Split(filepath.Clean(path))
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	p.Name = p.Name + "-create-" + pvName
	if len(p.Name) > 63 { // HelperPodNameMaxLength
		p.Name = p.Name[:63]
	}
	p.Namespace = namespace
	p.Spec.NodeName = node
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	if p.Spec.Tolerations == nil {
		p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	}
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: parent, Type: &dirOrCreate}}})
	if len(p.Spec.Containers) > 0 {
		c := &p.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: parent})
		c.Command = []string{"/bin/sh", "/script/setup"}
		c.Args = []string{"-p", filepath.Join(parent, dir), "-a", "create"}
	}
	return p
}

// longhornVolume is the PV the CSI external-provisioner creates for
// Longhorn's driver (Immediate binding, the class's default): a CSI
// source of driver.longhorn.io whose handle is the volume's name.
func longhornVolume(pvc *corev1.PersistentVolumeClaim, pvName string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			CSI: &corev1.CSIPersistentVolumeSource{Driver: longhornDriver, VolumeHandle: pvName, FSType: "ext4"},
		}},
	}
}
