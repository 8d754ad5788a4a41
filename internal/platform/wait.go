package platform

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// DefaultTimeout is how long Wait waits when the spec says nothing.
const DefaultTimeout = 20 * time.Minute

// ComponentStatus is where one component stands.
type ComponentStatus struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Sync and Health are Argo CD's words for Applications; Helm releases
	// report "Deployed" and Healthy once their workloads are available.
	Sync    string `json:"sync"`
	Health  string `json:"health"`
	Message string `json:"message,omitempty"`
	Ready   bool   `json:"ready"`
	// unhealthy are the objects that keep it from being ready.
	unhealthy []objectRef
}

func (s ComponentStatus) summary() string {
	out := fmt.Sprintf("sync %s, health %s", orUnknown(s.Sync), orUnknown(s.Health))
	if s.Message != "" {
		out += " (" + s.Message + ")"
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// NotReadyError names the components that did not become ready in time.
type NotReadyError struct {
	After   time.Duration
	Pending []ComponentStatus
}

func (e *NotReadyError) Error() string {
	parts := make([]string, len(e.Pending))
	for i, s := range e.Pending {
		parts[i] = s.Name + ": " + s.summary()
	}
	return fmt.Sprintf("%d component(s) not ready after %s: %s; rerun to keep waiting", len(e.Pending), e.After, strings.Join(parts, "; "))
}

// Wait polls until every component is ready or timeout passes, reporting
// each component whose state changes.
func (in *Installer) Wait(ctx context.Context, timeout time.Duration, progress Progress) error {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if progress == nil {
		progress = func(string, string, string) {}
	}
	deadline := time.Now().Add(timeout)
	last := map[string]string{}
	interval := min(250*time.Millisecond, in.opts.PollInterval)
	for {
		statuses, err := in.Status(ctx)
		if err != nil && ctx.Err() == nil {
			// The API may blink while components start; keep trying until
			// the deadline, then say what failed.
			if time.Now().After(deadline) {
				return fmt.Errorf("platform status after %s: %w", timeout, err)
			}
		}
		var pending []ComponentStatus
		for _, s := range statuses {
			word := "ready"
			if !s.Ready {
				word = "waiting"
				pending = append(pending, s)
			}
			if line := word + " " + s.summary(); last[s.Name] != line {
				last[s.Name] = line
				progress(s.Name, word, s.summary())
			}
		}
		if err == nil && len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for i := range pending {
				pending[i] = in.explain(ctx, pending[i])
			}
			return &NotReadyError{After: timeout, Pending: pending}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d component(s): %w", len(pending), ctx.Err())
		case <-time.After(interval):
		}
		// Look often at first (a rerun is usually ready at once), then
		// back off to the poll interval.
		interval = min(2*interval, in.opts.PollInterval)
	}
}

// Status reports every component: Helm releases by their workloads,
// Applications by Argo CD's sync and health.
func (in *Installer) Status(ctx context.Context) ([]ComponentStatus, error) {
	bootstrap, apps := in.split()
	var out []ComponentStatus
	var errs []error
	for _, c := range bootstrap {
		s, err := in.releaseStatus(ctx, c)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, s)
	}
	list, err := in.dynamic.Resource(ApplicationGVR).Namespace(ArgoNamespace).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return out, errors.Join(append(errs, fmt.Errorf("list Applications: %w", err))...)
	}
	byName := map[string]*unstructured.Unstructured{}
	if list != nil {
		for i := range list.Items {
			byName[list.Items[i].GetName()] = &list.Items[i]
		}
	}
	if in.opts.GitOps.Repo != "" {
		// Every Application the customer's repository brings counts.
		names := slices.Collect(maps.Keys(byName))
		if byName[AppOfApps] == nil {
			names = append(names, AppOfApps)
		}
		slices.Sort(names)
		for _, n := range names {
			out = append(out, appStatus(n, "", byName[n]))
		}
	} else {
		for _, c := range apps {
			out = append(out, appStatus(c.Name, c.Version, byName[c.Name]))
		}
	}
	return out, errors.Join(errs...)
}

func appStatus(name, version string, app *unstructured.Unstructured) ComponentStatus {
	s := ComponentStatus{Name: name, Version: version}
	if app == nil {
		s.Message = "Application not found"
		return s
	}
	s.Sync, _, _ = unstructured.NestedString(app.Object, "status", "sync", "status")
	s.Health, _, _ = unstructured.NestedString(app.Object, "status", "health", "status")
	s.Message, _, _ = unstructured.NestedString(app.Object, "status", "health", "message")
	conds, _, _ := unstructured.NestedSlice(app.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			if msg, _ := m["message"].(string); msg != "" {
				if s.Message != "" {
					s.Message += "; "
				}
				s.Message += fmt.Sprintf("%v: %s", m["type"], msg)
			}
		}
	}
	if s.Message == "" {
		s.Message, _, _ = unstructured.NestedString(app.Object, "status", "operationState", "message")
		if s.Sync == "Synced" && s.Health == "Healthy" {
			s.Message = ""
		}
	}
	s.Ready = s.Sync == "Synced" && s.Health == "Healthy"
	s.unhealthy = unhealthyResources(app)
	return s
}

// unhealthyResources are the resources Argo CD reports for an Application
// with a health other than Healthy (status.resources[].health, present only
// for kinds Argo CD has a health check for).
func unhealthyResources(app *unstructured.Unstructured) []objectRef {
	res, _, _ := unstructured.NestedSlice(app.Object, "status", "resources")
	var out []objectRef
	for _, r := range res {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		health, _, _ := unstructured.NestedString(m, "health", "status")
		if health == "" || health == "Healthy" {
			continue
		}
		kind, _ := m["kind"].(string)
		ns, _ := m["namespace"].(string)
		name, _ := m["name"].(string)
		out = append(out, objectRef{Kind: kind, Namespace: ns, Name: name})
	}
	return out
}

// releaseStatus is a Helm release's state: deployed, and every Deployment,
// StatefulSet and DaemonSet of it available.
func (in *Installer) releaseStatus(ctx context.Context, c Component) (ComponentStatus, error) {
	s := ComponentStatus{Name: c.Name, Version: c.Version}
	rel, err := in.deployedRelease(c)
	if err != nil {
		s.Message = err.Error()
		return s, err
	}
	if rel == nil {
		s.Message = "Helm release not deployed"
		return s, nil
	}
	s.Sync = "Deployed"
	loads, err := releaseWorkloads(rel)
	if err != nil {
		s.Message = err.Error()
		return s, err
	}
	var waiting []string
	for _, w := range loads {
		if why := in.workloadNotReady(ctx, w); why != "" {
			waiting = append(waiting, why)
			s.unhealthy = append(s.unhealthy, w)
		}
	}
	if len(waiting) > 0 {
		s.Health = "Progressing"
		s.Message = strings.Join(waiting, "; ")
		return s, nil
	}
	s.Health = "Healthy"
	s.Ready = true
	return s, nil
}

// workloadNotReady says why a workload is not available ("" when it is).
func (in *Installer) workloadNotReady(ctx context.Context, w objectRef) string {
	apps := in.client.AppsV1()
	id := fmt.Sprintf("%s %s/%s", w.Kind, w.Namespace, w.Name)
	switch w.Kind {
	case "Deployment":
		d, err := apps.Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return id + ": " + err.Error()
		}
		want := replicasOf(d.Spec.Replicas)
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
			return fmt.Sprintf("%s: %d of %d available", id, d.Status.AvailableReplicas, want)
		}
	case "StatefulSet":
		st, err := apps.StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return id + ": " + err.Error()
		}
		want := replicasOf(st.Spec.Replicas)
		if st.Status.ObservedGeneration < st.Generation || st.Status.ReadyReplicas < want {
			return fmt.Sprintf("%s: %d of %d ready", id, st.Status.ReadyReplicas, want)
		}
	case "DaemonSet":
		ds, err := apps.DaemonSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return id + ": " + err.Error()
		}
		st := ds.Status
		if st.ObservedGeneration < ds.Generation || st.DesiredNumberScheduled == 0 || st.NumberAvailable < st.DesiredNumberScheduled || st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
			return fmt.Sprintf("%s: %d of %d nodes available", id, st.NumberAvailable, st.DesiredNumberScheduled)
		}
	}
	return ""
}

func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
