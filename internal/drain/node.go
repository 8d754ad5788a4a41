package drain

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Cordon marks node unschedulable (spec.unschedulable), as kubectl cordon
// does. A node already cordoned is left as it is, without a write.
func Cordon(ctx context.Context, kube kubernetes.Interface, node string) error {
	return setUnschedulable(ctx, kube, node, true)
}

// Uncordon makes node schedulable again, as kubectl uncordon does. A node
// that is schedulable is left as it is, without a write.
func Uncordon(ctx context.Context, kube kubernetes.Interface, node string) error {
	return setUnschedulable(ctx, kube, node, false)
}

func setUnschedulable(ctx context.Context, kube kubernetes.Interface, node string, want bool) error {
	verb := "cordon"
	if !want {
		verb = "uncordon"
	}
	n, err := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s node %s: %w", verb, node, err)
	}
	if n.Spec.Unschedulable == want {
		return nil
	}
	// A merge patch of the one field carries no resourceVersion, so it
	// applies to the node as it is when the API server gets it and never
	// fails with a conflict against the kubelet's or the controllers'
	// concurrent writes to other fields. Null removes the field, which is
	// what false (omitempty) is on the wire, as kubectl uncordon sends it.
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	if !want {
		patch = []byte(`{"spec":{"unschedulable":null}}`)
	}
	if _, err := kube.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("%s node %s: %w", verb, node, err)
	}
	return nil
}

// DeleteNode deletes the Node object. A node that does not exist is
// success: what was asked for holds.
func DeleteNode(ctx context.Context, kube kubernetes.Interface, node string) error {
	err := kube.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", node, err)
	}
	return nil
}

// Ready reports whether the node's Ready condition is True.
func Ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// KubeletVersion is a condition for WaitNode: the node's kubelet reports
// version v ("v1.36.3" or "1.36.3").
func KubeletVersion(v string) func(*corev1.Node) bool {
	want := strings.TrimPrefix(v, "v")
	return func(n *corev1.Node) bool {
		return strings.TrimPrefix(n.Status.NodeInfo.KubeletVersion, "v") == want
	}
}

// ReadyAt is a condition for WaitNode: the node is Ready and its kubelet
// reports version v, as a node is once an upgrade of it is done.
func ReadyAt(v string) func(*corev1.Node) bool {
	at := KubeletVersion(v)
	return func(n *corev1.Node) bool { return Ready(n) && at(n) }
}

// WaitNode reads the node every poll interval until cond holds of it, and
// returns the node then. A node that does not exist yet (one that is still
// to register) and errors of the API server (one that restarts during an
// upgrade) are waited out; after opts.Timeout (none when zero) it fails
// saying what the node last looked like. opts.Clock measures the time.
func WaitNode(ctx context.Context, kube kubernetes.Interface, node string, cond func(*corev1.Node) bool, opts Options) (*corev1.Node, error) {
	o := opts.withDefaults()
	start := o.clock.Now()
	var last *corev1.Node
	var lastErr error
	for {
		n, err := kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		switch {
		case err == nil:
			if cond(n) {
				return n, nil
			}
			last, lastErr = n, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("wait for node %s: %w", node, ctx.Err())
		default:
			lastErr = err
		}
		wait := pollInterval
		if o.Timeout > 0 {
			left := o.Timeout - o.clock.Now().Sub(start)
			if left <= 0 {
				return nil, fmt.Errorf("node %s: the condition waited for did not hold after %s; %s", node, o.Timeout, describeNode(last, lastErr))
			}
			wait = min(wait, left)
		}
		if err := o.clock.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("wait for node %s: %w", node, err)
		}
	}
}

// describeNode says what a waiter last saw of a node, for its error.
func describeNode(n *corev1.Node, err error) string {
	if err != nil {
		if apierrors.IsNotFound(err) {
			return "the node does not exist"
		}
		return "the last read failed: " + err.Error()
	}
	if n == nil {
		return "the node was never read"
	}
	ready := "Ready unknown (no condition reported)"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = fmt.Sprintf("Ready=%s", c.Status)
			if c.Reason != "" {
				ready += " (" + c.Reason
				if c.Message != "" {
					ready += ": " + c.Message
				}
				ready += ")"
			}
		}
	}
	s := fmt.Sprintf("last seen %s, kubelet %q", ready, n.Status.NodeInfo.KubeletVersion)
	if n.Spec.Unschedulable {
		s += ", cordoned"
	}
	return s
}

// pollInterval is how often WaitNode reads the node and Drain looks
// whether an evicted pod is gone (kubectl drain looks every second).
const pollInterval = 500 * time.Millisecond
