package kubeenv

import (
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig is the admin client configuration of the API server. It
// drops the API server's warnings: Pod Security warns of every pod that
// misses "restricted", which says nothing in a test.
func (e *Env) RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.WarningHandler = rest.NoWarnings{}
	return cfg
}

// Clientset is an admin clientset of the API server.
func (e *Env) Clientset(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	return kubernetes.NewForConfigOrDie(e.RESTConfig(t))
}
