package fake

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// How long the fake's actions take in simulated time.
const (
	createTime  = 20 * time.Second
	powerTime   = 5 * time.Second
	imageTime   = 60 * time.Second
	networkTime = 5 * time.Second
	deleteTime  = 5 * time.Second
)

func list(w http.ResponseWriter, key string, items any, n int) {
	writeJSON(w, http.StatusOK, map[string]any{key: items, "meta": listMeta(n)})
}

// byID finds the item /{id} names in items, answering 404 with noun when
// there is none.
func byID[T any](w http.ResponseWriter, parts []string, items map[int64]T, noun string) (int64, T, bool) {
	id, _ := pathID(parts[1])
	v, ok := items[id]
	if !ok {
		notFound(w, noun)
	}
	return id, v, ok
}

// nameUsed answers 409 when name is already one of items' names, as the
// API does for a create.
func nameUsed[T any](w http.ResponseWriter, items map[int64]T, nameOf func(T) string, name, noun string) bool {
	for _, v := range items {
		if nameOf(v) == name {
			apiError(w, http.StatusConflict, "uniqueness_error", noun+" name is already used")
			return true
		}
	}
	return false
}

// listed answers a GET on a collection: the items of ids, as item shows
// them, that pass the request's label_selector and name filters.
func listed[V any](w http.ResponseWriter, r *http.Request, key string, ids []int64, item func(id int64) (v V, labels map[string]string, name string)) {
	q := r.URL.Query()
	out := []V{}
	for _, id := range ids {
		v, labels, name := item(id)
		if sel := q.Get("label_selector"); sel != "" && !matchLabels(sel, labels) {
			continue
		}
		if want := q.Get("name"); want != "" && want != name {
			continue
		}
		out = append(out, v)
	}
	list(w, key, out, len(out))
}

// collections route the requests under /{collection}, by its name.
var collections = map[string]func(f *Fake, w http.ResponseWriter, r *http.Request, parts []string){
	"images":           (*Fake).routeImages,
	"actions":          (*Fake).routeActions,
	"servers":          (*Fake).routeServers,
	"networks":         (*Fake).routeNetworks,
	"placement_groups": (*Fake).routePlacementGroups,
	"load_balancers":   (*Fake).routeLoadBalancers,
}

func (f *Fake) route(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && parts[0] == "locations" && len(parts) == 1:
		list(w, "locations", f.locations, len(f.locations))
	case r.Method == http.MethodGet && parts[0] == "server_types" && len(parts) == 1:
		out := []schema.ServerType{}
		for _, t := range f.serverTypes {
			if name := q.Get("name"); name == "" || name == t.Name {
				out = append(out, t)
			}
		}
		list(w, "server_types", out, len(out))
	case r.Method == http.MethodGet && parts[0] == "pricing" && len(parts) == 1:
		writeJSON(w, http.StatusOK, schema.PricingGetResponse{Pricing: f.pricing()})
	case r.Method == http.MethodGet && parts[0] == "load_balancer_types" && len(parts) == 1:
		out := []schema.LoadBalancerType{}
		for _, t := range f.lbTypes {
			if name := q.Get("name"); name == "" || name == t.Name {
				out = append(out, t)
			}
		}
		list(w, "load_balancer_types", out, len(out))
	case r.Method == http.MethodGet && parts[0] == "isos" && len(parts) == 1:
		out := []schema.ISO{}
		for _, iso := range f.isos {
			if name := q.Get("name"); name == "" || name == iso.Name {
				out = append(out, iso)
			}
		}
		list(w, "isos", out, len(out))
	case collections[parts[0]] != nil:
		collections[parts[0]](f, w, r, parts)
	default:
		notFound(w, r.Method+" "+r.URL.Path)
	}
}

func (f *Fake) routeActions(w http.ResponseWriter, r *http.Request, parts []string) {
	if r.Method != http.MethodGet {
		notFound(w, "action")
		return
	}
	if len(parts) == 2 {
		_, a, ok := byID(w, parts, f.actions, "action")
		if !ok {
			return
		}
		writeJSON(w, http.StatusOK, schema.ActionGetResponse{Action: a.Action})
		return
	}
	out := []schema.Action{}
	for _, s := range r.URL.Query()["id"] {
		id, _ := pathID(s)
		if a, ok := f.actions[id]; ok {
			out = append(out, a.Action)
		}
	}
	list(w, "actions", out, len(out))
}

func (f *Fake) routeImages(w http.ResponseWriter, r *http.Request, parts []string) {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && len(parts) == 1:
		out := []schema.Image{}
		for _, id := range sortedKeys(f.images) {
			img := f.images[id]
			if t := q.Get("type"); t != "" && t != img.Type {
				continue
			}
			if sel := q.Get("label_selector"); sel != "" && !matchLabels(sel, img.Labels) {
				continue
			}
			out = append(out, *img)
		}
		list(w, "images", out, len(out))
	case len(parts) == 2:
		id, img, ok := byID(w, parts, f.images, "image")
		if !ok {
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, schema.ImageGetResponse{Image: *img})
		case http.MethodDelete:
			delete(f.images, id)
			w.WriteHeader(http.StatusNoContent)
		default:
			notFound(w, "image")
		}
	default:
		notFound(w, "image")
	}
}

func (f *Fake) serverType(name string) (schema.ServerType, bool) {
	for _, t := range f.serverTypes {
		if t.Name == name {
			return t, true
		}
	}
	return schema.ServerType{}, false
}

func (f *Fake) location(name string) (schema.Location, bool) {
	for _, l := range f.locations {
		if l.Name == name {
			return l, true
		}
	}
	return schema.Location{}, false
}

func (f *Fake) routeServers(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodGet:
			listed(w, r, "servers", sortedKeys(f.servers), func(id int64) (schema.Server, map[string]string, string) {
				s := f.servers[id]
				return s.Server, s.Labels, s.Name
			})
		case http.MethodPost:
			f.createServer(w, r)
		default:
			notFound(w, "server")
		}
		return
	}
	id, s, ok := byID(w, parts, f.servers, "server")
	if !ok {
		return
	}
	if len(parts) == 2 {
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, schema.ServerGetResponse{Server: s.Server})
		case http.MethodPut:
			var req schema.ServerUpdateRequest
			if !decode(w, r, &req) {
				return
			}
			if req.Labels != nil {
				s.Labels = fmtLabels(req.Labels)
			}
			if req.Name != "" {
				s.Name = req.Name
			}
			writeJSON(w, http.StatusOK, schema.ServerUpdateResponse{Server: s.Server})
		case http.MethodDelete:
			s.Status = "deleting"
			a := f.newAction("delete_server", deleteTime, serverRef(id), func() { f.removeServer(id) })
			writeJSON(w, http.StatusOK, schema.ServerDeleteResponse{Action: a.Action})
		default:
			notFound(w, "server")
		}
		return
	}
	if len(parts) == 4 && parts[2] == "actions" && r.Method == http.MethodPost {
		f.serverAction(w, r, s, parts[3])
		return
	}
	notFound(w, r.URL.Path)
}

func serverRef(id int64) []schema.ActionResourceReference {
	return []schema.ActionResourceReference{{ID: id, Type: "server"}}
}

func (f *Fake) createServer(w http.ResponseWriter, r *http.Request) {
	var req schema.ServerCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name == "" {
		invalid(w, "name is required")
		return
	}
	if nameUsed(w, f.servers, func(s *server) string { return s.Name }, req.Name, "server") {
		return
	}
	t, ok := f.serverType(req.ServerType.Name)
	if req.ServerType.ID != 0 {
		for _, st := range f.serverTypes {
			if st.ID == req.ServerType.ID {
				t, ok = st, true
			}
		}
	}
	if !ok {
		invalid(w, fmt.Sprintf("server type %s not found", req.ServerType.Name))
		return
	}
	loc, ok := f.location(req.Location)
	if !ok {
		invalid(w, fmt.Sprintf("location %q not found", req.Location))
		return
	}
	available := false
	for _, l := range t.Locations {
		available = available || (l.Name == loc.Name && l.Available)
	}
	if !available || f.outOfStock[t.Name+"@"+loc.Name] {
		apiError(w, http.StatusPreconditionFailed, "resource_unavailable", fmt.Sprintf("server type %s is unavailable in %s", t.Name, loc.Name))
		return
	}
	var img *schema.Image
	switch {
	case req.Image.ID != 0:
		i, ok := f.images[req.Image.ID]
		if !ok || i.Status != "available" {
			invalid(w, fmt.Sprintf("image %d not found", req.Image.ID))
			return
		}
		img = i
	case req.Image.Name != "":
		name := req.Image.Name
		img = &schema.Image{ID: 1, Type: "system", Name: &name, Status: "available", OSFlavor: "debian"}
	default:
		invalid(w, "image is required")
		return
	}
	if req.PlacementGroup != 0 {
		if _, ok := f.groups[req.PlacementGroup]; !ok {
			invalid(w, "placement group not found")
			return
		}
	}
	id := f.id()
	s := &server{Server: schema.Server{ID: id, Name: req.Name, Status: "initializing", Created: f.clock.Now(),
		ServerType: t, Location: loc, Image: img, Labels: fmtLabels(req.Labels), PrimaryDiskSize: t.Disk,
		PublicNet: schema.ServerPublicNet{IPv4: schema.ServerPublicNetIPv4{ID: id, IP: f.allocIP(id, "198.51.100")}}}}
	if req.PlacementGroup != 0 {
		g := f.groups[req.PlacementGroup]
		g.Servers = append(g.Servers, id)
		s.PlacementGroup = g
	}
	f.servers[id] = s
	start := req.StartAfterCreate == nil || *req.StartAfterCreate
	failed := f.failNext > 0
	if failed {
		f.failNext--
	}
	a := f.newAction("create_server", createTime, serverRef(id), func() {
		if failed {
			s.Status = "off"
			return
		}
		if start {
			s.Status = "running"
			s.Booted = "image:" + imageName(img)
			f.booted(s)
		} else {
			s.Status = "off"
		}
	})
	if failed {
		a.fail = &schema.ActionError{Code: "action_failed", Message: "server creation failed on the host"}
	}
	writeJSON(w, http.StatusCreated, schema.ServerCreateResponse{Server: s.Server, Action: a.Action, NextActions: []schema.Action{}})
}

func imageName(img *schema.Image) string {
	if img.Name != nil {
		return *img.Name
	}
	return fmt.Sprint(img.ID)
}

func (f *Fake) removeServer(id int64) {
	s, ok := f.servers[id]
	if !ok {
		return
	}
	delete(f.servers, id)
	delete(f.usedIPs, s.PublicNet.IPv4.IP)
	f.stopped(s, true)
	if f.rescue != nil && s.Booted == "rescue" {
		f.rescue.RescueLeft(id)
	}
	for nid := range f.members {
		delete(f.members[nid], id)
		f.syncNetwork(nid)
	}
	for _, g := range f.groups {
		for i, sid := range g.Servers {
			if sid == id {
				g.Servers = append(g.Servers[:i], g.Servers[i+1:]...)
				break
			}
		}
	}
}

// boot is what a server starts when it powers on or resets.
func (f *Fake) boot(s *server) {
	if f.rescue != nil && s.Booted == "rescue" {
		f.rescue.RescueLeft(s.ID)
	}
	f.stopped(s, false)
	defer f.booted(s)
	switch {
	case s.RescueEnabled:
		s.RescueEnabled = false
		s.Booted = "rescue"
		if f.rescue != nil {
			f.rescue.RescueBooted(s.ID, s.PublicNet.IPv4.IP, s.RescuePassword)
		}
	case s.ISO != nil:
		s.Booted = "iso:" + s.ISO.Name
	default:
		s.Booted = "image:" + imageName(s.Image)
	}
	s.Status = "running"
}

func (f *Fake) serverAction(w http.ResponseWriter, r *http.Request, s *server, name string) {
	if s.Status == "deleting" {
		apiError(w, http.StatusLocked, "locked", "server is being deleted")
		return
	}
	for _, a := range f.actions {
		if a.Status == "running" && len(a.Resources) > 0 && a.Resources[0].ID == s.ID && a.Resources[0].Type == "server" {
			apiError(w, http.StatusLocked, "locked", "server is locked by action "+a.Command)
			return
		}
	}
	ref := serverRef(s.ID)
	respond := func(a *action) { writeJSON(w, http.StatusCreated, map[string]any{"action": a.Action}) }
	switch name {
	case "poweron":
		respond(f.newAction("start_server", powerTime, ref, func() {
			if s.Status != "running" {
				f.boot(s)
			}
		}))
	case "reset":
		respond(f.newAction("reset_server", powerTime, ref, func() { f.boot(s) }))
	case "poweroff", "shutdown":
		respond(f.newAction("stop_server", powerTime, ref, func() {
			if f.rescue != nil && s.Booted == "rescue" {
				f.rescue.RescueLeft(s.ID)
			}
			f.stopped(s, false)
			s.Status, s.Booted = "off", ""
		}))
	case "attach_iso":
		var req schema.ServerActionAttachISORequest
		if !decode(w, r, &req) {
			return
		}
		var found *schema.ISO
		for i := range f.isos {
			if f.isos[i].Name == req.ISO.Name || (req.ISO.ID != 0 && f.isos[i].ID == req.ISO.ID) {
				found = &f.isos[i]
			}
		}
		if found == nil {
			invalid(w, "iso not found")
			return
		}
		iso := *found
		respond(f.newAction("attach_iso", powerTime, ref, func() { s.ISO = &iso }))
	case "detach_iso":
		respond(f.newAction("detach_iso", powerTime, ref, func() { s.ISO = nil }))
	case "enable_rescue":
		s.RescuePassword = fmt.Sprintf("rescue-%d-%d", s.ID, f.id())
		a := f.newAction("enable_rescue", powerTime, ref, func() { s.RescueEnabled = true })
		writeJSON(w, http.StatusCreated, schema.ServerActionEnableRescueResponse{Action: a.Action, RootPassword: s.RescuePassword})
	case "create_image":
		var req schema.ServerActionCreateImageRequest
		if !decode(w, r, &req) {
			return
		}
		now := f.clock.Now()
		img := &schema.Image{ID: f.id(), Type: "snapshot", Status: "creating", Created: &now, Labels: fmtLabels(req.Labels),
			CreatedFrom: &schema.ImageCreatedFrom{ID: s.ID, Name: s.Name}, DiskSize: float32(s.PrimaryDiskSize), Architecture: s.ServerType.Architecture}
		if req.Description != nil {
			img.Description = *req.Description
		}
		// What the snapshot holds: the disk as the rescue system left it.
		img.OSFlavor = "unknown"
		f.images[img.ID] = img
		a := f.newAction("create_image", imageTime, ref, func() { img.Status = "available" })
		writeJSON(w, http.StatusCreated, schema.ServerActionCreateImageResponse{Action: a.Action, Image: *img})
	case "attach_to_network":
		var req struct {
			Network int64  `json:"network"`
			IP      string `json:"ip"`
		}
		if !decode(w, r, &req) {
			return
		}
		n, ok := f.networks[req.Network]
		if !ok {
			notFound(w, "network")
			return
		}
		if _, ok := f.members[n.ID][s.ID]; ok {
			apiError(w, http.StatusUnprocessableEntity, "server_already_attached", "server is already attached to the network")
			return
		}
		ip := f.nextPrivateIP(n)
		f.members[n.ID][s.ID] = "attaching"
		a := f.newAction("attach_to_network", networkTime, append(ref, schema.ActionResourceReference{ID: n.ID, Type: "network"}), func() {
			f.members[n.ID][s.ID] = "ok"
			// Each attachment is a NIC of its own with a MAC Hetzner
			// assigns (schema.ServerPrivateNet.MACAddress).
			s.PrivateNet = append(s.PrivateNet, schema.ServerPrivateNet{Network: n.ID, IP: ip, MACAddress: privateMAC(s.ID, n.ID)})
			f.syncNetwork(n.ID)
		})
		respond(a)
	default:
		notFound(w, "action "+name)
	}
}

func (f *Fake) nextPrivateIP(n *schema.Network) string {
	p, err := netip.ParsePrefix(n.Subnets[0].IPRange)
	if err != nil {
		return ""
	}
	addr := p.Addr().Next() // the gateway
	for range len(f.members[n.ID]) + 1 {
		addr = addr.Next()
	}
	return addr.String()
}

func (f *Fake) syncNetwork(id int64) {
	n, ok := f.networks[id]
	if !ok {
		return
	}
	n.Servers = n.Servers[:0]
	for _, sid := range sortedKeys(f.members[id]) {
		if f.members[id][sid] == "ok" {
			n.Servers = append(n.Servers, sid)
		}
	}
}

func (f *Fake) routeNetworks(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodGet:
			listed(w, r, "networks", sortedKeys(f.networks), func(id int64) (schema.Network, map[string]string, string) {
				n := f.networks[id]
				return *n, n.Labels, n.Name
			})
		case http.MethodPost:
			var req schema.NetworkCreateRequest
			if !decode(w, r, &req) {
				return
			}
			if nameUsed(w, f.networks, func(n *schema.Network) string { return n.Name }, req.Name, "network") {
				return
			}
			if _, err := netip.ParsePrefix(req.IPRange); err != nil || len(req.Subnets) == 0 {
				invalid(w, "ip_range and one subnet are required")
				return
			}
			n := &schema.Network{ID: f.id(), Name: req.Name, Created: f.clock.Now(), IPRange: req.IPRange, Subnets: req.Subnets,
				Labels: fmtLabels(req.Labels), Servers: []int64{}}
			f.networks[n.ID] = n
			f.members[n.ID] = map[int64]string{}
			writeJSON(w, http.StatusCreated, schema.NetworkCreateResponse{Network: *n})
		default:
			notFound(w, "network")
		}
		return
	}
	id, n, ok := byID(w, parts, f.networks, "network")
	if !ok {
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, schema.NetworkGetResponse{Network: *n})
	case len(parts) == 2 && r.Method == http.MethodDelete:
		for _, lb := range f.lbs {
			for _, pn := range lb.PrivateNet {
				if pn.Network == id {
					apiError(w, http.StatusConflict, "conflict", "network is used by a load balancer")
					return
				}
			}
		}
		delete(f.networks, id)
		for sid := range f.members[id] {
			if s, ok := f.servers[sid]; ok {
				for i, pn := range s.PrivateNet {
					if pn.Network == id {
						s.PrivateNet = append(s.PrivateNet[:i], s.PrivateNet[i+1:]...)
						break
					}
				}
			}
		}
		delete(f.members, id)
		w.WriteHeader(http.StatusNoContent)
	case len(parts) == 3 && parts[2] == "members" && r.Method == http.MethodGet:
		out := []schema.NetworkMember{}
		for _, sid := range sortedKeys(f.members[id]) {
			m := schema.NetworkMember{Type: "server", ID: sid, Status: f.members[id][sid], Subnet: n.Subnets[0].IPRange}
			if s, ok := f.servers[sid]; ok {
				for _, pn := range s.PrivateNet {
					if pn.Network == id {
						m.IP = pn.IP
					}
				}
			}
			out = append(out, m)
		}
		list(w, "members", out, len(out))
	default:
		notFound(w, r.URL.Path)
	}
}

func (f *Fake) routePlacementGroups(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodGet:
			listed(w, r, "placement_groups", sortedKeys(f.groups), func(id int64) (schema.PlacementGroup, map[string]string, string) {
				g := f.groups[id]
				return *g, g.Labels, g.Name
			})
		case http.MethodPost:
			var req schema.PlacementGroupCreateRequest
			if !decode(w, r, &req) {
				return
			}
			if nameUsed(w, f.groups, func(g *schema.PlacementGroup) string { return g.Name }, req.Name, "placement group") {
				return
			}
			if req.Type != "spread" {
				invalid(w, "type must be spread")
				return
			}
			g := &schema.PlacementGroup{ID: f.id(), Name: req.Name, Labels: fmtLabels(req.Labels), Created: f.clock.Now(), Servers: []int64{}, Type: req.Type}
			f.groups[g.ID] = g
			writeJSON(w, http.StatusCreated, schema.PlacementGroupCreateResponse{PlacementGroup: *g})
		default:
			notFound(w, "placement group")
		}
		return
	}
	id, g, ok := byID(w, parts, f.groups, "placement group")
	if !ok {
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, schema.PlacementGroupGetResponse{PlacementGroup: *g})
	case http.MethodDelete:
		if len(g.Servers) > 0 {
			apiError(w, http.StatusConflict, "conflict", "placement group still has servers")
			return
		}
		delete(f.groups, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		notFound(w, "placement group")
	}
}

func (f *Fake) routeLoadBalancers(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodGet:
			listed(w, r, "load_balancers", sortedKeys(f.lbs), func(id int64) (schema.LoadBalancer, map[string]string, string) {
				lb := f.lbs[id]
				return *lb, lb.Labels, lb.Name
			})
		case http.MethodPost:
			f.createLoadBalancer(w, r)
		default:
			notFound(w, "load balancer")
		}
		return
	}
	id, lb, ok := byID(w, parts, f.lbs, "load balancer")
	if !ok {
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, schema.LoadBalancerGetResponse{LoadBalancer: *lb})
	case http.MethodDelete:
		delete(f.usedIPs, lb.PublicNet.IPv4.IP)
		delete(f.lbs, id)
		f.loadBalancer(lb.PublicNet.IPv4.IP, false)
		a := f.newAction("delete_load_balancer", deleteTime, []schema.ActionResourceReference{{ID: id, Type: "load_balancer"}}, nil)
		writeJSON(w, http.StatusOK, schema.ActionGetResponse{Action: a.Action})
	default:
		notFound(w, "load balancer")
	}
}

func (f *Fake) createLoadBalancer(w http.ResponseWriter, r *http.Request) {
	var req schema.LoadBalancerCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.LoadBalancerType.Name != "lb11" && req.LoadBalancerType.Name != "lb21" && req.LoadBalancerType.Name != "lb31" {
		invalid(w, "unknown load balancer type")
		return
	}
	if nameUsed(w, f.lbs, func(lb *schema.LoadBalancer) string { return lb.Name }, req.Name, "load balancer") {
		return
	}
	var loc schema.Location
	if req.Location != nil {
		l, ok := f.location(*req.Location)
		if !ok {
			invalid(w, "location not found")
			return
		}
		loc = l
	}
	id := f.id()
	lb := &schema.LoadBalancer{ID: id, Name: req.Name, Location: loc, Labels: fmtLabels(req.Labels), Created: f.clock.Now(),
		LoadBalancerType: schema.LoadBalancerType{Name: req.LoadBalancerType.Name},
		PublicNet:        schema.LoadBalancerPublicNet{Enabled: true, IPv4: schema.LoadBalancerPublicNetIPv4{IP: f.allocIP(id, "203.0.113")}}}
	if req.Algorithm != nil {
		lb.Algorithm.Type = req.Algorithm.Type
	}
	for _, s := range req.Services {
		svc := schema.LoadBalancerService{Protocol: s.Protocol}
		if s.ListenPort != nil {
			svc.ListenPort = *s.ListenPort
		}
		if s.DestinationPort != nil {
			svc.DestinationPort = *s.DestinationPort
		}
		lb.Services = append(lb.Services, svc)
	}
	for _, t := range req.Targets {
		tg := schema.LoadBalancerTarget{Type: t.Type}
		if t.LabelSelector != nil {
			tg.LabelSelector = &schema.LoadBalancerTargetLabelSelector{Selector: t.LabelSelector.Selector}
		}
		if t.Server != nil {
			tg.Server = &schema.LoadBalancerTargetServer{ID: t.Server.ID}
		}
		if t.UsePrivateIP != nil {
			tg.UsePrivateIP = *t.UsePrivateIP
		}
		lb.Targets = append(lb.Targets, tg)
	}
	if req.Network != nil {
		if _, ok := f.networks[*req.Network]; !ok {
			invalid(w, "network not found")
			return
		}
		lb.PrivateNet = []schema.LoadBalancerPrivateNet{{Network: *req.Network}}
	}
	f.lbs[id] = lb
	f.loadBalancer(lb.PublicNet.IPv4.IP, true)
	a := f.newAction("create_load_balancer", createTime, []schema.ActionResourceReference{{ID: id, Type: "load_balancer"}}, nil)
	writeJSON(w, http.StatusCreated, schema.LoadBalancerCreateResponse{LoadBalancer: *lb, Action: a.Action})
}
