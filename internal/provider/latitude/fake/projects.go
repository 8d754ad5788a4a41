package fake

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Projects, tags and SSH keys.

func (f *Fake) projectJSON(p *project) map[string]any {
	return obj(p.ID, "projects", map[string]any{
		"tags": []any{}, "name": p.Name, "slug": p.Slug, "description": "", "bandwidth_alert": nil,
		"environment": p.Environment, "provisioning_type": p.ProvisioningType, "billing_type": "Normal",
		"billing_method": "Normal", "team": teamJSON(), "stats": map[string]any{"servers": f.countServers(p.ID), "vlans": 0},
		"created_at": f.now().UTC().Format(time.RFC3339), "updated_at": f.now().UTC().Format(time.RFC3339),
	})
}

func teamJSON() map[string]any {
	return map[string]any{"id": "team_fake0000000000", "name": "Fake Team", "slug": "fake-team", "status": "verified",
		"currency": map[string]any{"id": "cur_87vRENkgNdPyk", "code": "USD", "name": "United States Dollar"}}
}

func (f *Fake) countServers(projectID string) int {
	n := 0
	for _, s := range f.servers {
		if s.Project == projectID {
			n++
		}
	}
	return n
}

func (f *Fake) findProject(key string) *project {
	for _, p := range f.projects {
		if p.ID == key || p.Slug == key {
			return p
		}
	}
	return nil
}

func slugify(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteRune('-')
		}
	}
	return b.String()
}

func (f *Fake) listProjects(w http.ResponseWriter, r *http.Request) {
	list(f, w, r, func() []*project { return f.projects },
		func(p *project) bool { return matches(r, map[string]string{"name": p.Name, "slug": p.Slug}) },
		f.projectJSON)
}

// nameFree answers the 422 of a create whose name is blank or taken by
// another object of its kind, and reports whether the name may be used.
func nameFree(w http.ResponseWriter, name string, taken bool) bool {
	switch {
	case name == "":
		invalid(w, "name can't be blank")
	case taken:
		nameTaken(w)
	default:
		return true
	}
	return false
}

func (f *Fake) createProject(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Name             string `json:"name"`
		ProvisioningType string `json:"provisioning_type"`
		Environment      string `json:"environment"`
	}
	f.withBody(w, r, &a, func() {
		if !nameFree(w, a.Name, slices.ContainsFunc(f.projects, func(p *project) bool { return p.Name == a.Name })) {
			return
		}
		if a.ProvisioningType == "" {
			a.ProvisioningType = "on_demand"
		}
		p := &project{ID: f.newID("proj"), Name: a.Name, Slug: slugify(a.Name), ProvisioningType: a.ProvisioningType, Environment: a.Environment}
		f.projects = append(f.projects, p)
		one(w, http.StatusCreated, f.projectJSON(p))
	})
}

func (f *Fake) deleteProject(w http.ResponseWriter, r *http.Request) {
	withID(f, w, r, f.findProject, func(p *project) {
		f.projects = slices.DeleteFunc(f.projects, func(x *project) bool { return x == p })
		w.WriteHeader(http.StatusNoContent)
	})
}

func (f *Fake) tagJSON(t *tag) map[string]any {
	return obj(t.ID, "tags", map[string]any{"name": t.Name, "slug": slugify(t.Name), "description": t.Description, "color": t.Color, "team": teamJSON()})
}

func (f *Fake) tagRefs(ids []string) []any {
	out := []any{}
	for _, id := range ids {
		for _, t := range f.tags {
			if t.ID == id {
				out = append(out, map[string]any{"id": t.ID, "name": t.Name, "description": t.Description, "color": t.Color})
			}
		}
	}
	return out
}

func (f *Fake) listTags(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The tags endpoint answers application/json and is not paged.
	writeTyped(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{"data": rowsOf(f.tags, nil, f.tagJSON)})
}

func (f *Fake) createTag(w http.ResponseWriter, r *http.Request) {
	var a struct{ Name, Description, Color string }
	f.withBody(w, r, &a, func() {
		if !nameFree(w, a.Name, slices.ContainsFunc(f.tags, func(t *tag) bool { return t.Name == a.Name })) {
			return
		}
		t := &tag{ID: f.newID("tag"), Name: a.Name, Description: a.Description, Color: a.Color}
		f.tags = append(f.tags, t)
		writeTyped(w, http.StatusCreated, "application/json; charset=utf-8", map[string]any{"data": f.tagJSON(t)})
	})
}

func (f *Fake) deleteTag(w http.ResponseWriter, r *http.Request) {
	deleteByID(f, w, r, &f.tags, func(t *tag) string { return t.ID })
}

func sshKeyJSON(k *sshKey) map[string]any {
	return obj(k.ID, "ssh_keys", map[string]any{"name": k.Name, "public_key": k.PublicKey})
}

func (f *Fake) listSSHKeys(w http.ResponseWriter, r *http.Request) {
	list(f, w, r, func() []*sshKey { return f.sshKeys }, nil, sshKeyJSON)
}

func (f *Fake) createSSHKey(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	if a.Name == "" || a.PublicKey == "" {
		invalid(w, "name and public_key are required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := &sshKey{ID: f.newID("ssh"), Name: a.Name, PublicKey: a.PublicKey}
	f.sshKeys = append(f.sshKeys, k)
	one(w, http.StatusCreated, sshKeyJSON(k))
}
