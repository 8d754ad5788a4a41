package platformtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/cto-platform/cto/internal/platform"
)

// Mirror is a local Helm repository holding a stand-in chart for every
// catalog component, at the catalog's version.
type Mirror struct {
	URL string
	dir string
}

// ServeMirror starts the repository on loopback for the test's lifetime.
// Charts named in skip are left out (a chart that cannot be fetched).
func ServeMirror(t testing.TB, skip ...string) *Mirror {
	t.Helper()
	dir, url := serveDir(t)
	if err := WriteRepository(dir, url, skip...); err != nil {
		t.Fatal(err)
	}
	return &Mirror{URL: url, dir: dir}
}

// ServeCharts starts a Helm repository of charts on loopback for the
// test's lifetime and returns its URL.
func ServeCharts(t testing.TB, charts ...*chart.Chart) string {
	t.Helper()
	dir, url := serveDir(t)
	if err := writeCharts(dir, url, charts); err != nil {
		t.Fatal(err)
	}
	return url
}

// serveDir serves a new directory over HTTP for the test's lifetime.
func serveDir(t testing.TB) (dir, url string) {
	dir = t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return dir, srv.URL
}

// WriteRepository packages the stand-in charts into dir with an index.yaml
// whose URLs start with baseURL.
func WriteRepository(dir, baseURL string, skip ...string) error {
	cat, err := platform.LoadCatalog()
	if err != nil {
		return err
	}
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	done := map[string]bool{}
	var charts []*chart.Chart
	for _, c := range cat.Components {
		key := c.Chart + "-" + c.Version
		if skipped[c.Chart] || done[key] {
			continue
		}
		done[key] = true
		charts = append(charts, StandIn(c.Chart, c.Version))
	}
	return writeCharts(dir, baseURL, charts)
}

// writeCharts packages charts into dir with an index.yaml whose URLs start
// with baseURL.
func writeCharts(dir, baseURL string, charts []*chart.Chart) error {
	for _, ch := range charts {
		if _, err := chartutil.Save(ch, dir); err != nil {
			return fmt.Errorf("package %s-%s: %w", ch.Name(), ch.Metadata.Version, err)
		}
	}
	idx, err := repo.IndexDirectory(dir, baseURL)
	if err != nil {
		return err
	}
	return idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644)
}

// Remove deletes a chart's archive from the mirror (its index still lists
// it), as a broken mirror would.
func (m *Mirror) Remove(chartName, version string) error {
	return os.Remove(filepath.Join(m.dir, chartName+"-"+version+".tgz"))
}
