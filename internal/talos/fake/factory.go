// Package fake has test doubles speaking the real wire formats: a Talos
// node serving the machinery's gRPC services on loopback, and an Image
// Factory.
package fake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// Factory is a stateful Image Factory: POST /schematics stores the body
// and answers its sha256 as the id, so the same content gets the same id.
type Factory struct {
	mu         sync.Mutex
	schematics map[string][]byte
	posts      int
}

// NewFactory returns an empty factory.
func NewFactory() *Factory { return &Factory{schematics: map[string][]byte{}} }

func (f *Factory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/_fake/state" {
		f.mu.Lock()
		ids := make([]string, 0, len(f.schematics))
		for id := range f.schematics {
			ids = append(ids, id)
		}
		st := map[string]any{"schematics": ids, "requests": map[string]int{"POST /schematics": f.posts}}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
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
