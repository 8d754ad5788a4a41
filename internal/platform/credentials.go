package platform

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ArgoAdminSecret is where Argo CD keeps the admin's first password.
const ArgoAdminSecret = "argocd-initial-admin-secret"

// ArgoAdminPassword reads Argo CD's initial admin password. It is "" with no
// error when the secret is gone (the admin changed the password and deleted
// it, as Argo CD advises).
func ArgoAdminPassword(ctx context.Context, kubeconfig string) (string, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return "", err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	s, err := c.CoreV1().Secrets(ArgoNamespace).Get(ctx, ArgoAdminSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read secret %s/%s: %w", ArgoNamespace, ArgoAdminSecret, err)
	}
	return string(s.Data["password"]), nil
}
