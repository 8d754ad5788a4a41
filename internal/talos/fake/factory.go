// Package fake has test doubles speaking the real wire formats: a Talos
// node serving the machinery's gRPC services on loopback, and an Image
// Factory.
package fake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/cto-platform/cto/internal/talos"
)

// Factory is a stateful Image Factory: POST /schematics stores the body
// and answers its sha256 as the id, so the same content gets the same id;
// its registry serves the installer of every stored schematic at the Talos
// versions it knows.
type Factory struct {
	mu         sync.Mutex
	schematics map[string][]byte
	versions   map[string]bool
	missing    map[string]bool // official extensions taken out (RemoveExtension)
	posts      int
	pulls      map[string]int
}

// NewFactory returns an empty factory serving the Talos versions given
// (default: the one cto installs).
func NewFactory(versions ...string) *Factory {
	f := &Factory{schematics: map[string][]byte{}, versions: map[string]bool{}, missing: map[string]bool{}, pulls: map[string]int{}}
	if len(versions) == 0 {
		versions = []string{talos.DefaultTalosVersion}
	}
	for _, v := range versions {
		f.versions[v] = true
	}
	return f
}

func (f *Factory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/_fake/state" {
		f.mu.Lock()
		ids := make([]string, 0, len(f.schematics))
		for id := range f.schematics {
			ids = append(ids, id)
		}
		st := map[string]any{"schematics": ids, "pulls": maps.Clone(f.pulls), "requests": map[string]int{"POST /schematics": f.posts}}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v2/") {
		f.serveRegistry(w, r)
		return
	}
	if r.Method == http.MethodGet && (r.URL.Path == "/versions" || strings.HasPrefix(r.URL.Path, "/version/")) {
		f.serveVersions(w, r)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/schematics" {
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || len(body) == 0 {
		http.Error(w, `{"error":"empty schematic"}`, http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	id := hex.EncodeToString(sum[:])
	f.mu.Lock()
	f.schematics[id] = body
	f.posts++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{"id": id})
}

// officialExtensions are official system extensions of every Talos version
// the factory serves: those the catalog's components name and a few
// others, by the names of github.com/siderolabs/extensions.
var officialExtensions = []string{
	"siderolabs/amd-ucode", "siderolabs/intel-ucode", "siderolabs/drbd", "siderolabs/gvisor",
	"siderolabs/iscsi-tools", "siderolabs/util-linux-tools", "siderolabs/qemu-guest-agent", "siderolabs/zfs",
	"siderolabs/nvidia-open-gpu-kernel-modules-production", "siderolabs/nvidia-open-gpu-kernel-modules-lts",
	"siderolabs/nvidia-container-toolkit-production", "siderolabs/nvidia-container-toolkit-lts",
	"siderolabs/nonfree-kmod-nvidia-production", "siderolabs/nonfree-kmod-nvidia-lts",
}

// serveVersions answers the HTTP frontend's lists (the factory's README):
// GET /versions, a JSON array of the Talos versions it builds, and GET
// /version/:version/extensions/official, the official extensions of one
// of them as {name, ref, digest} objects.
func (f *Factory) serveVersions(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/versions" {
		versions := slices.Sorted(maps.Keys(f.versions))
		json.NewEncoder(w).Encode(versions)
		return
	}
	version, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/version/"), "/extensions/official")
	if !ok || !f.versions[version] {
		http.Error(w, `{"error":"version not found"}`, http.StatusNotFound)
		return
	}
	type extension struct {
		Name   string `json:"name"`
		Ref    string `json:"ref"`
		Digest string `json:"digest"`
	}
	var out []extension
	for _, name := range officialExtensions {
		if f.missing[name] {
			continue
		}
		sum := sha256.Sum256([]byte(name + ":" + version))
		out = append(out, extension{Name: name, Ref: "ghcr.io/" + name + ":" + version, Digest: "sha256:" + hex.EncodeToString(sum[:])})
	}
	json.NewEncoder(w).Encode(out)
}

// RemoveExtension takes an official extension out of every version's list,
// as for a Talos version that does not ship it.
func (f *Factory) RemoveExtension(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing[name] = true
}

// Schematic returns a stored schematic's body.
func (f *Factory) Schematic(id string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.schematics[id]
	return b, ok
}

// Posts counts POST /schematics calls.
func (f *Factory) Posts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts
}

// serveRegistry answers the OCI distribution API's manifest requests for
// the factory's installer images, as the real factory's registry does
// (factory.talos.dev/<platform>-installer/<schematic>:<version>, and the
// older <host>/installer/...): GET /v2/ says the API is there; a manifest
// of an unknown schematic or version is MANIFEST_UNKNOWN with 404 (OCI
// distribution spec, "Pulling manifests" and its error codes). Each
// served manifest GET counts as a pull.
func (f *Factory) serveRegistry(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		registryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "the factory's registry is read-only")
		return
	}
	if r.URL.Path == "/v2/" {
		w.WriteHeader(http.StatusOK)
		return
	}
	name, tag, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
	repo, schematic, _ := strings.Cut(name, "/")
	if !ok || !strings.HasSuffix(repo, "installer") || schematic == "" || strings.Contains(schematic, "/") {
		registryError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return
	}
	f.mu.Lock()
	_, known := f.schematics[schematic]
	served := f.versions[tag]
	if known && served && r.Method == http.MethodGet {
		f.pulls[name+":"+tag]++
	}
	f.mu.Unlock()
	switch {
	case !known:
		registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "schematic "+schematic+" not found")
		return
	case !served:
		registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "Talos version "+tag+" is not served")
		return
	}
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	sum := sha256.Sum256(body)
	w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
	w.Write(body)
}

func registryError(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": errCode, "message": msg}}})
}

// Pulls counts the installer manifests served, by image name:tag.
func (f *Factory) Pulls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.pulls)
}

// TotalPulls is the number of installer manifests served.
func (f *Factory) TotalPulls() int {
	total := 0
	for _, n := range f.Pulls() {
		total += n
	}
	return total
}
