package platformtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/cto-platform/cto/internal/platform"
)

// Component returns the component named name of the selection sel.
func Component(t testing.TB, sel platform.Selection, name string) platform.Component {
	t.Helper()
	comps, err := platform.SelectComponents(sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range comps {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s is not in %+v", name, sel)
	return platform.Component{}
}

// Render renders a component's model with its values as Helm would for
// an install into its namespace: the objects of every template (hooks
// included) and of crds/, by file name.
func Render(c platform.Component) ([]*unstructured.Unstructured, error) {
	return RenderChart(StandIn(c.Chart, c.Version), c.Name, c.Namespace, c.Values, nil)
}

// RenderChart renders a chart as `helm template --include-crds` would for
// release in namespace with values, against caps (nil: Helm's defaults).
func RenderChart(ch *chart.Chart, release, namespace string, values map[string]any, caps *common.Capabilities) ([]*unstructured.Unstructured, error) {
	if caps == nil {
		caps = common.DefaultCapabilities.Copy()
	}
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true}, caps)
	if err != nil {
		return nil, fmt.Errorf("%s values: %w", release, err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", release, err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	docs := make([]string, 0, len(names))
	for _, n := range names {
		if strings.HasSuffix(n, ".tpl") || strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		docs = append(docs, files[n])
	}
	for _, f := range ch.Files {
		if strings.HasPrefix(f.Name, "crds/") {
			docs = append(docs, string(f.Data))
		}
	}
	var out []*unstructured.Unstructured
	for _, doc := range docs {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(doc)), 4096)
		for {
			var doc json.RawMessage
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: rendered YAML: %w", release, err)
			}
			if len(doc) == 0 || string(doc) == "null" {
				continue
			}
			// Unstructured's own decoding keeps integers int64.
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(doc); err != nil {
				return nil, fmt.Errorf("%s: rendered object: %w", release, err)
			}
			out = append(out, u)
		}
	}
	return out, nil
}
