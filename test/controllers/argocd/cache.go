package argocd

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// liveCache watches every resource type the Applications hold, as Argo
// CD's cluster cache does, so health is read without a request per object.
type liveCache struct {
	ctx     context.Context
	factory dynamicinformer.DynamicSharedInformerFactory

	mu      sync.Mutex
	watched map[schema.GroupVersionResource]cache.SharedIndexInformer
}

func newLiveCache(ctx context.Context, dyn dynamic.Interface) *liveCache {
	return &liveCache{ctx: ctx, factory: dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0),
		watched: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
}

// get returns the live object, or nil when the cluster has none (or the
// type's watch has not synced yet).
func (l *liveCache) get(gvr schema.GroupVersionResource, namespace, name string) *unstructured.Unstructured {
	l.mu.Lock()
	inf, ok := l.watched[gvr]
	if !ok {
		inf = l.factory.ForResource(gvr).Informer()
		l.watched[gvr] = inf
		l.factory.Start(l.ctx.Done())
	}
	l.mu.Unlock()
	if !ok {
		ctx, cancel := context.WithTimeout(l.ctx, 10*time.Second)
		cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
		cancel()
	}
	key := name
	if namespace != "" {
		key = namespace + "/" + name
	}
	obj, exists, err := inf.GetStore().GetByKey(key)
	if err != nil || !exists {
		return nil
	}
	u, _ := obj.(*unstructured.Unstructured)
	return u
}
