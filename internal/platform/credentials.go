package platform

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Secret is where a component keeps a generated password.
type Secret struct {
	Namespace, Name, Key string
}

func (s Secret) String() string {
	return fmt.Sprintf("secret %s/%s key %s", s.Namespace, s.Name, s.Key)
}

// ArgoAdminSecret is where Argo CD keeps the admin's first password.
var ArgoAdminSecret = Secret{Namespace: ArgoNamespace, Name: "argocd-initial-admin-secret", Key: "password"}

// Service is a component's web UI: how to reach it through an ingress host
// or a port-forward.
type Service struct {
	Component string
	Title     string
	Namespace string
	Service   string
	Port      int
	LocalPort int
	// Host is the first label of its DNS name (argocd.<cluster>.<domain>).
	Host     string
	Username string
	Password *Secret
}

// services are the UIs of the catalog's components, by component name.
var services = []Service{
	{Component: "argo-cd", Title: "Argo CD", Namespace: ArgoNamespace, Service: "argocd-server", Port: 80, LocalPort: 8080, Host: "argocd", Username: "admin", Password: &ArgoAdminSecret},
	{Component: "argo-workflows", Title: "Argo Workflows", Namespace: "automation", Service: "argo-workflows-server", Port: 2746, LocalPort: 2746, Host: "workflows"},
	{Component: "grafana", Title: "Grafana", Namespace: "observability", Service: "grafana", Port: 80, LocalPort: 3000, Host: "grafana", Username: "admin", Password: &Secret{Namespace: "observability", Name: "grafana", Key: "admin-password"}},
}

// Services returns the web UIs among comps.
func Services(comps []Component) []Service {
	var out []Service
	for _, s := range services {
		for _, c := range comps {
			if c.Name == s.Component {
				out = append(out, s)
			}
		}
	}
	return out
}

// ReadSecret reads one key of a secret. It is "" with no error when the
// secret is gone (Argo CD advises deleting its initial secret once the
// password is changed).
func ReadSecret(ctx context.Context, kubeconfig string, s Secret) (string, error) {
	_, c, err := Connect(kubeconfig)
	if err != nil {
		return "", err
	}
	sec, err := c.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", s, err)
	}
	return string(sec.Data[s.Key]), nil
}
