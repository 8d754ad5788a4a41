package kubeenv

import (
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig is the admin client configuration of the API server. It
// drops the API server's warnings: Pod Security warns of every pod that
// misses "restricted", which says nothing in a test.
func (e *Env) RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := e.restConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (e *Env) restConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.WarningHandler = rest.NoWarnings{}
	return cfg, nil
}

// Clientset is an admin clientset of the API server.
func (e *Env) Clientset(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	return kubernetes.NewForConfigOrDie(e.RESTConfig(t))
}

func (e *Env) client() (kubernetes.Interface, error) {
	cfg, err := e.restConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func (e *Env) dynamicClient() (dynamic.Interface, error) {
	cfg, err := e.restConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(cfg)
}
