package fake

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// Servers: their lifecycle on the simulated clock, and their public addresses.

// status is where a server stands at the simulated time now.
func (f *Fake) status(s *server) string {
	if s.Rescue {
		return "rescue_mode"
	}
	if st, ok := f.reinstallStatus(s); ok {
		return st
	}
	el := f.now().Sub(s.CreatedAt)
	deploying := "deploying"
	if el < f.opts.DeployTime/10 {
		// The recorded creates answered starting_deploy.
		deploying = "starting_deploy"
	}
	if s.OffSpec {
		switch {
		case el < f.opts.DeployTime/4:
			deploying = "starting_deploy"
		case el < f.opts.DeployTime/2:
			deploying = "inventory"
		}
	}
	if s.Stuck || el < f.opts.DeployTime {
		if f.faults.UnknownStatus != "" {
			f.fired.unknownStatus.Add(1)
			return f.faults.UnknownStatus
		}
		return deploying
	}
	if s.Fail {
		return "failed_deployment"
	}
	if s.PoweredOff {
		return "off"
	}
	return "on"
}

func (f *Fake) planBySlug(slug string) *Plan {
	for _, p := range f.plans {
		if p.Slug == slug {
			return p
		}
	}
	return nil
}

func (f *Fake) serverJSON(s *server) map[string]any {
	p := f.planBySlug(s.Plan)
	site, _ := siteBySlug(s.Site)
	proj := f.findProject(s.Project)
	projJSON := map[string]any{"id": s.Project}
	if proj != nil {
		projJSON = map[string]any{"id": proj.ID, "name": proj.Name, "slug": proj.Slug, "description": nil,
			"billing_type": "Normal", "billing_method": "Normal", "environment": proj.Environment}
	}
	osName := "Custom image (iPXE)"
	for _, o := range operatingSystems {
		if o.Slug == s.OS {
			osName = o.Name
		}
	}
	return obj(s.ID, "servers", map[string]any{
		"tags": f.tagRefs(s.Tags), "hostname": s.Hostname, "label": s.Label, "price": p.MonthUSD, "role": "Bare Metal",
		"primary_ipv4": s.IP, "status": f.status(s), "ipmi_status": "Normal",
		"created_at": s.CreatedAt.UTC().Format("2006-01-02T15:04:05+00:00"), "scheduled_deletion_at": nil,
		"locked": s.Locked,
		"region": map[string]any{"city": site.City, "country": site.Country, "site": map[string]any{
			"id": siteJSON(site)["id"], "name": site.Name, "slug": site.Slug, "facility": site.Facility}},
		"team": teamJSON(), "project": projJSON,
		"plan":             map[string]any{"id": p.ID, "name": p.Name, "slug": p.Slug, "billing": s.Billing},
		"operating_system": map[string]any{"name": osName, "slug": s.OS, "version": "", "features": map[string]any{"raid": false, "ssh_keys": false, "user_data": false}},
		"specs": map[string]any{"cpu": fmt.Sprintf("%s (%d cores)", p.CPUType, p.Cores), "disk": p.Drives[0].Size + " " + p.Drives[0].Type,
			"ram": fmt.Sprintf("%d GB", p.MemoryGB), "nic": p.NIC, "gpu": gpuSpec(p)},
		"interfaces": interfacesJSON(s.ID),
	})
}

func gpuSpec(p *Plan) any {
	if p.GPUCount == 0 {
		return nil
	}
	return fmt.Sprintf("%d x %s", p.GPUCount, p.GPUType)
}

func (f *Fake) findServer(id string) *server {
	for _, s := range f.servers {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// scope reads filter[project] (ID or slug) and filter[tags] (comma-separated
// IDs); ok is false for a project that does not exist.
func (f *Fake) scope(r *http.Request) (projectID string, tags []string, ok bool) {
	if v := filter(r, "project"); v != "" {
		p := f.findProject(v)
		if p == nil {
			return "", nil, false
		}
		projectID = p.ID
	}
	if v := filter(r, "tags"); v != "" {
		tags = strings.Split(v, ",")
	}
	return projectID, tags, true
}

// listInScope answers, a page at a time, the rows of items (read with the
// fake locked) that lie in the request's project, carry one of its tags
// and pass keep, the list's own filters.
func listInScope[T any](f *Fake, w http.ResponseWriter, r *http.Request, items func() []*T, scope func(*T) (project string, tags []string), keep func(*T) bool, view func(*T) any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	projectID, tags, ok := f.scope(r)
	f.page(w, r, rowsOf(items(), func(x *T) bool {
		project, has := scope(x)
		// A project that does not exist holds nothing.
		return ok && (projectID == "" || project == projectID) && tagged(has, tags) && keep(x)
	}, view))
}

// list answers, a page at a time, the rows of items (read with the fake
// locked) that pass keep.
func list[T, V any](f *Fake, w http.ResponseWriter, r *http.Request, items func() []T, keep func(T) bool, view func(T) V) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.page(w, r, rowsOf(items(), keep, view))
}

// rowsOf is the view of each of items that keep passes (every one when
// keep is nil).
func rowsOf[T, V any](items []T, keep func(T) bool, view func(T) V) []any {
	rows := []any{}
	for _, x := range items {
		if keep == nil || keep(x) {
			rows = append(rows, view(x))
		}
	}
	return rows
}

// matches reports whether each of the fields a filter[name] of the request
// names holds the value it asks for.
func matches(r *http.Request, fields map[string]string) bool {
	for name, value := range fields {
		if v := filter(r, name); v != "" && v != value {
			return false
		}
	}
	return true
}

// tagged reports whether has carries one of want (or want is empty).
func tagged(has, want []string) bool {
	return len(want) == 0 || slices.ContainsFunc(want, func(t string) bool { return slices.Contains(has, t) })
}

func (f *Fake) listServers(w http.ResponseWriter, r *http.Request) {
	listInScope(f, w, r, func() []*server { return f.servers },
		func(s *server) (string, []string) { return s.Project, s.Tags },
		func(s *server) bool {
			v := func(key string) string { return filter(r, key) }
			return (v("hostname") == "" || v("hostname") == s.Hostname) &&
				(v("status") == "" || v("status") == f.status(s)) &&
				(v("region") == "" || strings.EqualFold(v("region"), s.Site)) &&
				(v("plan") == "" || v("plan") == s.Plan)
		},
		func(s *server) any { return f.serverJSON(s) })
}

func (f *Fake) createServer(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Project         string   `json:"project"`
		Plan            string   `json:"plan"`
		Site            string   `json:"site"`
		OperatingSystem string   `json:"operating_system"`
		Hostname        string   `json:"hostname"`
		SSHKeys         []string `json:"ssh_keys"`
		IPXE            string   `json:"ipxe"`
		IPXEURL         string   `json:"ipxe_url"`
		Billing         string   `json:"billing"`
	}
	f.withBody(w, r, &a, func() {
		proj := f.findProject(a.Project)
		switch {
		case proj == nil:
			invalid(w, fmt.Sprintf("project %q is not valid", a.Project))
			return
		case a.Hostname == "":
			invalid(w, "hostname can't be blank")
			return
		}
		p := f.planBySlug(a.Plan)
		if p == nil {
			invalid(w, fmt.Sprintf("plan %q is not valid", a.Plan))
			return
		}
		site := strings.ToUpper(a.Site)
		left, offered := p.Stock[site]
		if !offered {
			invalid(w, fmt.Sprintf("plan %s is not offered at site %q", a.Plan, a.Site))
			return
		}
		known := false
		for _, o := range operatingSystems {
			known = known || o.Slug == a.OperatingSystem
		}
		switch {
		case !known:
			invalid(w, fmt.Sprintf("operating_system %q is not valid", a.OperatingSystem))
			return
		case a.OperatingSystem == "ipxe" && !p.IPXE:
			invalid(w, fmt.Sprintf("operating_system ipxe is not provisionable on plan %s", p.Name))
			return
		case a.OperatingSystem == "ipxe" && a.IPXE == "" && a.IPXEURL == "":
			invalid(w, "ipxe is required when operating_system is ipxe")
			return
		case a.OperatingSystem == "ipxe" && f.refusesIPXE(w, p):
			return
		}
		billing, ok := billingFor(w, proj, a.Billing)
		if !ok {
			return
		}
		if left <= 0 {
			writeError(w, http.StatusUnprocessableEntity, "SERVERS_OUT_OF_STOCK", "Out of stock", "No stock availability")
			return
		}
		p.Stock[site]--
		s := &server{ID: f.newID("sv"), Hostname: a.Hostname, Project: proj.ID, Plan: p.Slug, Site: site, OS: a.OperatingSystem,
			IPXE: a.IPXE + a.IPXEURL, IP: f.allocIP(), Label: fmt.Sprintf("%03dS%06d", 100+len(f.servers)%900, f.rng.IntN(1000000)),
			CreatedAt: f.now(), OffSpec: f.faults.OffSpecStatus, Billing: billing}
		s.Fail = takeFault(f.faults.FailHostnames, a.Hostname, &f.faults.FailNext)
		s.Stuck = takeFault(f.faults.StuckHostnames, a.Hostname, &f.faults.StuckNext)
		f.servers = append(f.servers, s)
		if f.faults.LoseCreateAnswers > 0 {
			f.faults.LoseCreateAnswers--
			writeError(w, http.StatusBadGateway, "BAD_GATEWAY", "Bad Gateway", "The upstream answer was lost")
			return
		}
		f.holdCreateAnswer(s)
		if n := f.faults.RevokeAfterServers; n > 0 && len(f.servers) >= n {
			f.faults.Revoked = true
		}
		// The create answer is the short form the live API gives.
		full := f.serverJSON(s)["attributes"].(map[string]any)
		one(w, http.StatusCreated, map[string]any{"type": "servers", "id": s.ID, "attributes": map[string]any{
			"hostname": s.Hostname, "label": s.Label, "role": "Bare Metal", "status": full["status"], "primary_ipv4": s.IP,
			"specs": full["specs"], "plan": full["plan"]}})
	})
}

func (f *Fake) patchServer(w http.ResponseWriter, r *http.Request) {
	var a struct {
		Hostname *string  `json:"hostname"`
		Tags     []string `json:"tags"`
		Project  *string  `json:"project"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	withID(f, w, r, f.findServer, func(s *server) {
		if s.Locked {
			writeError(w, http.StatusLocked, "", "Locked Server", "Server is locked and cannot be updated or deleted")
			return
		}
		if a.Tags != nil {
			for _, id := range a.Tags {
				if !slices.ContainsFunc(f.tags, func(t *tag) bool { return t.ID == id }) {
					invalid(w, fmt.Sprintf("tag %q is not valid", id))
					return
				}
			}
			s.Tags = a.Tags
		}
		if a.Hostname != nil {
			s.Hostname = *a.Hostname
		}
		one(w, http.StatusOK, f.serverJSON(s))
	})
}

func (f *Fake) deleteServer(w http.ResponseWriter, r *http.Request) {
	withID(f, w, r, f.findServer, func(s *server) {
		if s.Locked {
			writeError(w, http.StatusLocked, "", "Locked Server", "Server is locked and cannot be updated or deleted")
			return
		}
		f.removeServer(s)
		w.WriteHeader(http.StatusNoContent)
		if f.opts.OnDeleted != nil {
			gone := f.serverState(s)
			f.mu.Unlock()
			f.opts.OnDeleted(gone)
			f.mu.Lock()
		}
	})
}

func (f *Fake) removeServer(s *server) {
	f.servers = slices.DeleteFunc(f.servers, func(x *server) bool { return x == s })
	f.assignments = slices.DeleteFunc(f.assignments, func(a *assignment) bool { return a.ServerID == s.ID })
	if p := f.planBySlug(s.Plan); p != nil {
		p.Stock[s.Site]++
	}
	delete(f.usedIPs, netip.MustParseAddr(s.IP))
}

func (f *Fake) rescue(enter bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		withID(f, w, r, f.findServer, func(s *server) {
			if enter && s.OS == "ipxe" {
				writeError(w, http.StatusUnprocessableEntity, "RESCUE_UNAVAILABLE", "Unprocessable", "Rescue mode is not available for this operating system")
				return
			}
			s.Rescue = enter
			status := http.StatusOK
			if enter {
				status = http.StatusCreated
			}
			one(w, status, obj(s.ID, "rescue", map[string]any{"status": f.status(s)}))
		})
	}
}

func (f *Fake) power(w http.ResponseWriter, r *http.Request) {
	var a struct{ Action string }
	if !f.typed(w, r, &a) {
		return
	}
	withID(f, w, r, f.findServer, func(s *server) {
		switch a.Action {
		case "power_on", "reboot":
			s.PoweredOff = false
		case "power_off":
			s.PoweredOff = true
		default:
			invalid(w, fmt.Sprintf("action %q is not valid", a.Action))
			return
		}
		one(w, http.StatusCreated, obj(f.newID("act"), "actions", map[string]any{"status": "pending"}))
	})
}

func (f *Fake) lock(locked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		withID(f, w, r, f.findServer, func(s *server) {
			s.Locked = locked
			writeTyped(w, http.StatusOK, "application/json; charset=utf-8", map[string]any{"data": f.serverJSON(s)})
		})
	}
}

// takeFault uses up one of the faults aimed at hostname or, there being
// none, one of the next count, and reports whether it took one.
func takeFault(byHostname map[string]int, hostname string, next *int) bool {
	if n := byHostname[hostname]; n > 0 {
		byHostname[hostname] = n - 1
		return true
	}
	if *next > 0 {
		*next--
		return true
	}
	return false
}

func (f *Fake) listIPs(w http.ResponseWriter, r *http.Request) {
	list(f, w, r, func() []*server { return f.servers },
		func(s *server) bool { return matches(r, map[string]string{"server": s.ID}) },
		ipJSON)
}

// ipJSON is a server's public address as GET /ips lists it.
func ipJSON(s *server) map[string]any {
	a := addressOf(s.IP)
	return obj("ip_"+strings.TrimPrefix(s.ID, "sv_"), "ip_addresses", map[string]any{
		"address": a.Address, "cidr": a.CIDR, "gateway": a.Gateway, "netmask": a.Netmask, "type": "Public", "family": "IPv4",
		"server": map[string]any{"id": s.ID, "hostname": s.Hostname}})
}
