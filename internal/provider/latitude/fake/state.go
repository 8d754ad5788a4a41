package fake

import (
	"sort"
	"strings"
	"time"
)

// The snapshot of the double that tests and GET /_fake/state read.

// State is the fake's whole state, as GET /_fake/state answers it.
type State struct {
	Servers     []ServerState     `json:"servers"`
	Networks    []NetworkState    `json:"networks"`
	Assignments []AssignmentState `json:"assignments"`
	Projects    []ProjectState    `json:"projects"`
	Tags        []TagState        `json:"tags"`
	// Requests counts requests by "METHOD /route".
	Requests     map[string]int `json:"requests"`
	RateLimited  int            `json:"rate_limited"`
	ServerErrors int            `json:"server_errors"`
	Resets       int            `json:"resets"`
	Malformed    int            `json:"malformed"`
	Now          time.Time      `json:"now"`
}

type ServerState struct {
	ID       string   `json:"id"`
	Hostname string   `json:"hostname"`
	Status   string   `json:"status"`
	Project  string   `json:"project"`
	Plan     string   `json:"plan"`
	Site     string   `json:"site"`
	IP       string   `json:"primary_ipv4"`
	Tags     []string `json:"tags"`
	IPXE     string   `json:"ipxe"`
	// Booted is what the server's iPXE runs: the URL, or the decoded
	// script with the placeholders the account fills filled (boot.go).
	Booted string `json:"booted,omitempty"`
}

type NetworkState struct {
	ID      string   `json:"id"`
	VID     int      `json:"vid"`
	Site    string   `json:"site"`
	Project string   `json:"project"`
	Tags    []string `json:"tags"`
}

type AssignmentState struct {
	ID        string `json:"id"`
	NetworkID string `json:"virtual_network_id"`
	ServerID  string `json:"server_id"`
	Status    string `json:"status"`
}

type ProjectState struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Slug string `json:"slug"`
}

type TagState struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Posts counts the write requests of a method ("POST", "DELETE"...).
func (s State) Count(method string) int {
	n := 0
	for k, v := range s.Requests {
		if strings.HasPrefix(k, method+" ") {
			n += v
		}
	}
	return n
}

// State returns a snapshot of everything the fake holds.
func (f *Fake) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := State{Requests: map[string]int{}, RateLimited: f.sent429, ServerErrors: f.sent5xx, Resets: f.sentResets, Malformed: f.sentBroken, Now: f.now(),
		Servers: []ServerState{}, Networks: []NetworkState{}, Assignments: []AssignmentState{}, Projects: []ProjectState{}, Tags: []TagState{}}
	tagName := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			for _, t := range f.tags {
				if t.ID == id {
					out = append(out, t.Name)
				}
			}
		}
		return out
	}
	for _, s := range f.servers {
		st.Servers = append(st.Servers, f.serverState(s))
	}
	for _, n := range f.networks {
		st.Networks = append(st.Networks, NetworkState{ID: n.ID, VID: n.VID, Site: n.Site, Project: n.Project, Tags: tagName(n.Tags)})
	}
	for _, a := range f.assignments {
		st.Assignments = append(st.Assignments, AssignmentState{ID: a.ID, NetworkID: a.NetworkID, ServerID: a.ServerID, Status: f.assignmentStatus(a)})
	}
	for _, p := range f.projects {
		st.Projects = append(st.Projects, ProjectState{ID: p.ID, Name: p.Name, Slug: p.Slug})
	}
	for _, t := range f.tags {
		st.Tags = append(st.Tags, TagState{ID: t.ID, Name: t.Name})
	}
	for k, v := range f.requests {
		st.Requests[k] = v
	}
	sort.Slice(st.Servers, func(a, b int) bool { return st.Servers[a].Hostname < st.Servers[b].Hostname })
	return st
}

// serverState is a server as State shows it; the caller holds f.mu.
func (f *Fake) serverState(s *server) ServerState {
	var tags []string
	for _, id := range s.Tags {
		for _, t := range f.tags {
			if t.ID == id {
				tags = append(tags, t.Name)
			}
		}
	}
	return ServerState{ID: s.ID, Hostname: s.Hostname, Status: f.status(s), Project: s.Project,
		Plan: s.Plan, Site: s.Site, IP: s.IP, Tags: tags, IPXE: s.IPXE, Booted: f.booted(s)}
}
