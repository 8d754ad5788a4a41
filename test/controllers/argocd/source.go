package argocd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/platform/platformtest"
)

// source is an Application's spec.source, as the repo server reads it.
type source struct {
	RepoURL        string `json:"repoURL"`
	Chart          string `json:"chart,omitempty"`
	Path           string `json:"path,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
	Helm           struct {
		ReleaseName  string         `json:"releaseName,omitempty"`
		Values       string         `json:"values,omitempty"`
		ValuesObject map[string]any `json:"valuesObject,omitempty"`
	} `json:"helm,omitempty"`
	Directory struct {
		Recurse bool `json:"recurse,omitempty"`
	} `json:"directory,omitempty"`
}

// manifests generates an Application's objects as the repo server does:
// a Helm repository chart with `helm template --include-crds` and the
// Application's values (argo-cd reposerver/repository/repository.go
// helmTemplate), or the YAML files of a Git directory.
func (c *controller) manifests(ctx context.Context, app string, src source, namespace string) ([]*unstructured.Unstructured, error) {
	if src.Chart == "" {
		return c.directory(src)
	}
	ch, err := c.chart(ctx, src.RepoURL, src.Chart, src.TargetRevision)
	if err != nil {
		return nil, err
	}
	values := map[string]any{}
	if src.Helm.Values != "" {
		if err := yaml.Unmarshal([]byte(src.Helm.Values), &values); err != nil {
			return nil, fmt.Errorf("helm values: %w", err)
		}
	}
	for k, v := range src.Helm.ValuesObject {
		values[k] = v
	}
	release := src.Helm.ReleaseName
	if release == "" {
		release = app
	}
	caps, err := c.capabilities()
	if err != nil {
		return nil, err
	}
	return platformtest.RenderChart(ch, release, namespace, values, caps)
}

// chart fetches a chart from a Helm repository (index.yaml, then the
// archive it lists), once per repository, name and version.
func (c *controller) chart(ctx context.Context, repoURL, name, version string) (*chart.Chart, error) {
	key := repoURL + "|" + name + "|" + version
	if ch, ok := c.charts[key]; ok {
		return ch, nil
	}
	repoURL = strings.TrimRight(repoURL, "/")
	data, err := c.get(ctx, repoURL+"/index.yaml")
	if err != nil {
		return nil, err
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s/index.yaml: %w", repoURL, err)
	}
	cv, err := idx.Get(name, version)
	if err != nil || len(cv.URLs) == 0 {
		return nil, fmt.Errorf("chart %s version %s not found in %s", name, version, repoURL)
	}
	archive, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	if data, err = c.get(ctx, archive); err != nil {
		return nil, err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", archive, err)
	}
	c.charts[key] = ch
	return ch, nil
}

func (c *controller) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// The repo server gives up on a repository that does not answer.
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// capabilities are what `helm template` is told of the cluster: its
// Kubernetes version and every API version it serves (Argo CD passes
// --kube-version and --api-versions).
func (c *controller) capabilities() (*common.Capabilities, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(c.cfg)
	if err != nil {
		return nil, err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, err
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = common.KubeVersion{Version: v.GitVersion, Major: v.Major, Minor: v.Minor}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	versions := common.VersionSet{"v1"}
	for _, l := range lists {
		versions = append(versions, l.GroupVersion)
		for _, r := range l.APIResources {
			versions = append(versions, l.GroupVersion+"/"+r.Kind)
		}
	}
	caps.APIVersions = versions
	return caps, nil
}

// directory reads the YAML files of a Git source's path.
func (c *controller) directory(src source) ([]*unstructured.Unstructured, error) {
	fsys, ok := c.opts.Repos[src.RepoURL]
	if !ok {
		return nil, fmt.Errorf("repository %s not found", src.RepoURL)
	}
	root := path.Clean(strings.TrimPrefix(src.Path, "/"))
	var files []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && !src.Directory.Recurse {
			return fs.SkipDir
		}
		if ext := path.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("path %s: %w", src.Path, err)
	}
	sort.Strings(files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err == io.EOF {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
	}
	return out, nil
}
