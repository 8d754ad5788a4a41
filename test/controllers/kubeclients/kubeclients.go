// Package kubeclients makes the clients the controller doubles talk to a
// test cluster with.
package kubeclients

import (
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// New returns a typed clientset and a dynamic client of the cluster cfg
// points at, or the error that kept one from being made.
func New(cfg *rest.Config) (*kubernetes.Clientset, *dynamic.DynamicClient, error) {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	return kc, dyn, err
}
