package platform

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/cto-platform/cto/internal/state"
)

// chartSource fetches packaged charts from Helm repositories, keeping each
// downloaded archive in a cache folder so a rerun needs no network.
type chartSource struct {
	http  *http.Client
	cache string
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// RepoURL is where a component's chart is fetched from: the mirror when one
// is set, else its own repository.
func RepoURL(c Component, mirror string) string {
	if mirror != "" {
		return strings.TrimRight(mirror, "/")
	}
	return c.Repo
}

// load returns chart name at version from the Helm repository at repoURL.
func (s *chartSource) load(ctx context.Context, repoURL, name, version string) (*chart.Chart, error) {
	repoURL = strings.TrimRight(repoURL, "/")
	cached := ""
	if s.cache != "" {
		cached = filepath.Join(s.cache, unsafeChars.ReplaceAllString(repoURL, "_"), name+"-"+version+".tgz")
		if data, err := os.ReadFile(cached); err == nil {
			if ch, err := loader.LoadArchive(bytes.NewReader(data)); err == nil {
				return ch, nil
			}
		}
	}
	indexURL := repoURL + "/index.yaml"
	data, err := s.get(ctx, indexURL)
	if err != nil {
		return nil, fmt.Errorf("fetch chart %s %s: %w", name, version, err)
	}
	var idx repo.IndexFile
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("fetch chart %s %s: %s is not a Helm repository index: %v", name, version, indexURL, err)
	}
	cv, err := idx.Get(name, version)
	if err != nil || len(cv.URLs) == 0 {
		return nil, fmt.Errorf("fetch chart %s %s: not listed in %s", name, version, indexURL)
	}
	archiveURL, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("fetch chart %s %s: bad URL %q in %s: %v", name, version, cv.URLs[0], indexURL, err)
	}
	data, err = s.get(ctx, archiveURL)
	if err != nil {
		return nil, fmt.Errorf("fetch chart %s %s: %w", name, version, err)
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("fetch chart %s %s: %s is not a chart archive: %v", name, version, archiveURL, err)
	}
	if ch.Metadata.Version != version {
		return nil, fmt.Errorf("fetch chart %s %s: %s holds version %s", name, version, archiveURL, ch.Metadata.Version)
	}
	if cached != "" {
		if err := os.MkdirAll(filepath.Dir(cached), 0o700); err == nil {
			state.WriteFile(cached, data, 0o600)
		}
	}
	return ch, nil
}

func (s *chartSource) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", url, err)
	}
	hc := s.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", url, err)
	}
	return data, nil
}
