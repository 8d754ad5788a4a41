package fake

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Virtual networks (VLANs) and the servers' assignments to them.

func (f *Fake) networkJSON(n *network) map[string]any {
	site, _ := siteBySlug(n.Site)
	count := 0
	for _, a := range f.assignments {
		if a.NetworkID == n.ID {
			count++
		}
	}
	return obj(n.ID, "virtual_networks", map[string]any{
		"tags": f.tagRefs(n.Tags), "vid": n.VID, "description": n.Description,
		"region": map[string]any{"city": site.City, "country": site.Country, "site": map[string]any{
			"id": siteJSON(site)["id"], "name": site.Name, "slug": site.Slug, "facility": site.Facility}},
		"assignments_count": count,
	})
}

func (f *Fake) findNetwork(id string) *network {
	for _, n := range f.networks {
		if n.ID == id {
			return n
		}
	}
	return nil
}

func (f *Fake) listNetworks(w http.ResponseWriter, r *http.Request) {
	listInScope(f, w, r, func() []*network { return f.networks },
		func(n *network) (string, []string) { return n.Project, n.Tags },
		func(n *network) bool {
			v := filter(r, "location")
			return v == "" || strings.EqualFold(v, n.Site)
		},
		func(n *network) any { return f.networkJSON(n) })
}

func (f *Fake) createNetwork(w http.ResponseWriter, r *http.Request) {
	var a struct{ Description, Site, Location, Project string }
	if !f.typed(w, r, &a) {
		return
	}
	if a.Site == "" {
		a.Site = a.Location // the name the OpenAPI document requires
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	proj := f.findProject(a.Project)
	if proj == nil {
		invalid(w, fmt.Sprintf("project %q is not valid", a.Project))
		return
	}
	if _, ok := siteBySlug(strings.ToUpper(a.Site)); !ok {
		invalid(w, fmt.Sprintf("site %q is not valid", a.Site))
		return
	}
	n := &network{ID: f.newID("vlan"), Description: a.Description, Site: strings.ToUpper(a.Site), Project: proj.ID, VID: f.nextVID}
	f.nextVID++
	f.networks = append(f.networks, n)
	one(w, http.StatusCreated, f.networkShortJSON(n))
}

func (f *Fake) patchNetwork(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Description *string  `json:"description"`
		Tags        []string `json:"tags"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	withID(f, w, r, f.findNetwork, func(n *network) {
		if a.Description != nil {
			n.Description = *a.Description
		}
		if a.Tags != nil {
			n.Tags = a.Tags
		}
		// The recorded PATCH answered the create's short form.
		one(w, http.StatusOK, f.networkShortJSON(n))
	})
}

// networkShortJSON is the short form of a VLAN the recorded create and
// PATCH answers carry.
func (f *Fake) networkShortJSON(n *network) map[string]any {
	full := f.networkJSON(n)["attributes"].(map[string]any)
	return obj(n.ID, "virtual_networks", map[string]any{
		"tags": full["tags"], "vid": n.VID, "name": fmt.Sprintf("%s-%d", n.Site, n.VID), "description": n.Description, "site": n.Site})
}

func (f *Fake) deleteNetwork(w http.ResponseWriter, r *http.Request) {
	withID(f, w, r, f.findNetwork, func(n *network) {
		f.networks = slices.DeleteFunc(f.networks, func(x *network) bool { return x == n })
		f.assignments = slices.DeleteFunc(f.assignments, func(a *assignment) bool { return a.NetworkID == n.ID })
		w.WriteHeader(http.StatusNoContent)
	})
}

func (f *Fake) assignmentStatus(a *assignment) string {
	if a.Stuck || f.now().Sub(a.CreatedAt) < f.opts.ConnectTime {
		return "connecting"
	}
	return "connected"
}

func (f *Fake) assignmentJSON(a *assignment) map[string]any {
	n := f.findNetwork(a.NetworkID)
	s := f.findServer(a.ServerID)
	srv := map[string]any{"id": a.ServerID}
	if s != nil {
		srv = map[string]any{"id": s.ID, "hostname": s.Hostname, "label": s.Label, "status": f.status(s)}
	}
	return obj(a.ID, "virtual_network_assignment", map[string]any{
		"virtual_network_id": a.NetworkID, "vid": n.VID, "description": n.Description, "status": f.assignmentStatus(a), "server": srv})
}

func (f *Fake) listAssignments(w http.ResponseWriter, r *http.Request) {
	list(f, w, r, func() []*assignment { return f.assignments },
		func(a *assignment) bool {
			return matches(r, map[string]string{"virtual_network_id": a.NetworkID, "server": a.ServerID,
				"vid": strconv.Itoa(f.findNetwork(a.NetworkID).VID)})
		},
		f.assignmentJSON)
}

func (f *Fake) createAssignment(w http.ResponseWriter, r *http.Request) {
	var a struct {
		ServerID         string `json:"server_id"`
		VirtualNetworkID string `json:"virtual_network_id"`
	}
	f.withBody(w, r, &a, func() {
		s, n := f.findServer(a.ServerID), f.findNetwork(a.VirtualNetworkID)
		switch {
		case s == nil || n == nil:
			invalid(w, "server_id and virtual_network_id must name an existing server and virtual network")
			return
		case s.Site != n.Site:
			invalid(w, fmt.Sprintf("server %s is in %s, the virtual network in %s", s.ID, s.Site, n.Site))
			return
		}
		for _, x := range f.assignments {
			if x.ServerID == s.ID && x.NetworkID == n.ID {
				invalid(w, "server is already assigned to this virtual network")
				return
			}
		}
		as := &assignment{ID: f.newID("vnasg"), NetworkID: n.ID, ServerID: s.ID, CreatedAt: f.now(), Stuck: f.faults.StuckAssignmentNext > 0}
		if as.Stuck {
			f.faults.StuckAssignmentNext--
		}
		f.assignments = append(f.assignments, as)
		one(w, http.StatusCreated, obj(as.ID, "virtual_network_assignment", map[string]any{
			"virtual_network_id": n.ID, "vid": n.VID, "server_id": s.ID, "description": n.Description, "status": f.assignmentStatus(as)}))
	})
}

func (f *Fake) deleteAssignment(w http.ResponseWriter, r *http.Request) {
	deleteByID(f, w, r, &f.assignments, func(a *assignment) string { return a.ID })
}
