// Package fake is a stateful double of Cloudflare's DNS API
// (zones and DNS records, API v4) speaking its JSON envelope
// {success, errors, messages, result, result_info}. It serves tests and the
// simulated datacenter; GET /_fake/state shows everything it holds.
package fake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Zone is one DNS zone of the account.
type Zone struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// Record is one DNS record as the API returns it.
type Record struct {
	ID         string    `json:"id"`
	ZoneID     string    `json:"zone_id"`
	ZoneName   string    `json:"zone_name"`
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Content    string    `json:"content"`
	Proxiable  bool      `json:"proxiable"`
	Proxied    bool      `json:"proxied"`
	TTL        int       `json:"ttl"`
	Comment    *string   `json:"comment"`
	Tags       []string  `json:"tags"`
	CreatedOn  time.Time `json:"created_on"`
	ModifiedOn time.Time `json:"modified_on"`
}

// Server is the fake API. Its methods are safe for concurrent use.
type Server struct {
	// Token is the API token every request must carry as a bearer token.
	Token string

	mu      sync.Mutex
	zones   []*Zone
	records map[string][]*Record // by zone ID, in creation order
	calls   map[string]int       // "METHOD /path-pattern" -> count
	failing []failure
	httpSrv *httptest.Server
}

type failure struct {
	method, pathPrefix string
	status             int
}

// New returns a fake that accepts token and serves the given zones.
func New(token string, zones ...string) *Server {
	s := &Server{Token: token, records: map[string][]*Record{}, calls: map[string]int{}}
	for _, z := range zones {
		s.AddZone(z)
	}
	return s
}

// AddZone adds a zone and returns its ID.
func (s *Server) AddZone(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := &Zone{ID: newID(), Name: strings.TrimSuffix(strings.ToLower(name), "."), Status: "active"}
	s.zones = append(s.zones, z)
	return z.ID
}

// Start serves the API on a loopback port until Close.
func (s *Server) Start() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("cloudflare fake: " + err.Error())
	}
	s.httpSrv = &httptest.Server{Listener: l, Config: &http.Server{Handler: s}}
	s.httpSrv.Start()
}

// URL is the API's base URL, the value of CLOUDFLARE_API_URL.
func (s *Server) URL() string { return s.httpSrv.URL + "/client/v4" }

// Env is the environment that points cto's Cloudflare adapter at the fake.
func (s *Server) Env() []string {
	return []string{"CLOUDFLARE_API_URL=" + s.URL(), "CLOUDFLARE_API_TOKEN=" + s.Token}
}

// Close stops serving.
func (s *Server) Close() {
	if s.httpSrv != nil {
		s.httpSrv.Close()
	}
}

// FailNext makes the next request whose method and path start match answer
// with status (a fault to test retries and error handling).
func (s *Server) FailNext(method, pathPrefix string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = append(s.failing, failure{method, pathPrefix, status})
}

// Calls returns how many requests each endpoint got, keyed "METHOD route"
// (e.g. "POST dns_records").
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// Records returns copies of a zone's records (by zone name), in creation
// order.
func (s *Server) Records(zone string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByName(zone)
	if z == nil {
		return nil
	}
	var out []Record
	for _, r := range s.records[z.ID] {
		out = append(out, *r)
	}
	return out
}

// Lines are a zone's records as sorted "name type content comment" lines,
// noComment standing in for the comment of a record without one, so a test
// can compare a whole zone at once.
func (s *Server) Lines(zone, noComment string) []string {
	var out []string
	for _, r := range s.Records(zone) {
		c := noComment
		if r.Comment != nil {
			c = *r.Comment
		}
		out = append(out, r.Name+" "+r.Type+" "+r.Content+" "+c)
	}
	sort.Strings(out)
	return out
}

// Put adds a record directly, as if someone else had created it.
func (s *Server) Put(zone string, r Record) Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByName(zone)
	if z == nil {
		panic("cloudflare fake: no zone " + zone)
	}
	r.ID, r.ZoneID, r.ZoneName = newID(), z.ID, z.Name
	r.Name = absolute(r.Name, z.Name)
	if r.TTL == 0 {
		r.TTL = 1
	}
	r.CreatedOn, r.ModifiedOn = time.Now().UTC(), time.Now().UTC()
	s.records[z.ID] = append(s.records[z.ID], &r)
	return r
}

func (s *Server) zoneByName(name string) *Zone {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for _, z := range s.zones {
		if z.Name == name {
			return z
		}
	}
	return nil
}

func (s *Server) zoneByID(id string) *Zone {
	for _, z := range s.zones {
		if z.ID == id {
			return z
		}
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// absolute turns a record name as the API accepts it ("@", "api.c1",
// "api.c1.example.test") into the stored FQDN without a trailing dot.
func absolute(name, zone string) string {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	switch {
	case name == "@" || name == "" || name == zone:
		return zone
	case strings.HasSuffix(name, "."+zone):
		return name
	}
	return name + "." + zone
}

// apiError is one entry of the envelope's errors.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

type envelope struct {
	Success    bool        `json:"success"`
	Errors     []apiError  `json:"errors"`
	Messages   []any       `json:"messages"`
	Result     any         `json:"result"`
	ResultInfo *resultInfo `json:"result_info,omitempty"`
}

func reply(w http.ResponseWriter, status int, result any, info *resultInfo) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(envelope{Success: true, Errors: []apiError{}, Messages: []any{}, Result: result, ResultInfo: info})
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(envelope{Success: false, Errors: []apiError{{code, msg}}, Messages: []any{}, Result: nil})
}

// ServeHTTP routes the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_fake/state" {
		s.serveState(w)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/client/v4/")
	if !ok {
		fail(w, http.StatusNotFound, 7000, "No route for that URI")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token || s.Token == "" {
		if rest == "user/tokens/verify" {
			fail(w, http.StatusUnauthorized, 1000, "Invalid API Token")
			return
		}
		fail(w, http.StatusForbidden, 10000, "Authentication error")
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failing {
		if f.method == r.Method && strings.HasPrefix(r.URL.Path, f.pathPrefix) {
			s.failing = slices.Delete(s.failing, i, i+1)
			if f.status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "0")
			}
			fail(w, f.status, 10013, http.StatusText(f.status))
			return
		}
	}
	switch {
	case rest == "user/tokens/verify" && r.Method == http.MethodGet:
		s.count("GET tokens/verify")
		reply(w, http.StatusOK, map[string]string{"id": "fake-token", "status": "active"}, nil)
	case len(parts) == 1 && parts[0] == "zones" && r.Method == http.MethodGet:
		s.count("GET zones")
		s.listZones(w, r)
	case len(parts) == 3 && parts[0] == "zones" && parts[2] == "dns_records":
		z := s.zoneByID(parts[1])
		if z == nil {
			fail(w, http.StatusNotFound, 7003, "Could not route to /zones/"+parts[1]+"/dns_records, perhaps your object identifier is invalid?")
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.count("GET dns_records")
			s.listRecords(w, r, z)
		case http.MethodPost:
			s.count("POST dns_records")
			s.createRecord(w, r, z)
		default:
			fail(w, http.StatusMethodNotAllowed, 10000, "method not allowed")
		}
	case len(parts) == 4 && parts[0] == "zones" && parts[2] == "dns_records":
		z := s.zoneByID(parts[1])
		if z == nil {
			fail(w, http.StatusNotFound, 7003, "Could not route to /zones/"+parts[1]+", perhaps your object identifier is invalid?")
			return
		}
		i := slices.IndexFunc(s.records[z.ID], func(rec *Record) bool { return rec.ID == parts[3] })
		if i < 0 {
			fail(w, http.StatusNotFound, 81044, "Record does not exist.")
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.count("GET dns_record")
			reply(w, http.StatusOK, s.records[z.ID][i], nil)
		case http.MethodPatch, http.MethodPut:
			s.count(r.Method + " dns_record")
			s.updateRecord(w, r, z, i)
		case http.MethodDelete:
			s.count("DELETE dns_record")
			id := s.records[z.ID][i].ID
			s.records[z.ID] = slices.Delete(s.records[z.ID], i, i+1)
			reply(w, http.StatusOK, map[string]string{"id": id}, nil)
		default:
			fail(w, http.StatusMethodNotAllowed, 10000, "method not allowed")
		}
	default:
		fail(w, http.StatusNotFound, 7000, "No route for that URI")
	}
}

func (s *Server) count(route string) { s.calls[route]++ }

// page applies page and per_page (default 1, 100; per_page at most 5000 as
// the real API allows for DNS records) to n items.
func page(r *http.Request, n int) (from, to int, info *resultInfo, ok bool) {
	p, per := 1, 100
	if v := r.URL.Query().Get("page"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 {
			return 0, 0, nil, false
		}
		p = x
	}
	if v := r.URL.Query().Get("per_page"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 || x > 5000 {
			return 0, 0, nil, false
		}
		per = x
	}
	from = min((p-1)*per, n)
	to = min(from+per, n)
	return from, to, &resultInfo{Page: p, PerPage: per, Count: to - from, TotalCount: n, TotalPages: (n + per - 1) / per}, true
}

func (s *Server) listZones(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(r.URL.Query().Get("name"))
	var out []*Zone
	for _, z := range s.zones {
		if name == "" || z.Name == name {
			out = append(out, z)
		}
	}
	from, to, info, ok := page(r, len(out))
	if !ok {
		fail(w, http.StatusBadRequest, 1001, "Invalid page or per_page")
		return
	}
	res := append([]*Zone{}, out[from:to]...)
	reply(w, http.StatusOK, res, info)
}

// filter reads one of the list filters: field, field.exact.
func filter(r *http.Request, field string) (string, bool) {
	q := r.URL.Query()
	if q.Has(field + ".exact") {
		return q.Get(field + ".exact"), true
	}
	if q.Has(field) {
		return q.Get(field), true
	}
	return "", false
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request, z *Zone) {
	var out []*Record
	for _, rec := range s.records[z.ID] {
		if v, ok := filter(r, "type"); ok && !strings.EqualFold(rec.Type, v) {
			continue
		}
		if v, ok := filter(r, "name"); ok && rec.Name != absolute(v, z.Name) {
			continue
		}
		if v, ok := filter(r, "content"); ok && rec.Content != v {
			continue
		}
		if v, ok := filter(r, "comment"); ok && (rec.Comment == nil || *rec.Comment != v) {
			continue
		}
		out = append(out, rec)
	}
	from, to, info, ok := page(r, len(out))
	if !ok {
		fail(w, http.StatusBadRequest, 1001, "Invalid page or per_page")
		return
	}
	reply(w, http.StatusOK, append([]*Record{}, out[from:to]...), info)
}

// recordInput is the body of a create or update.
type recordInput struct {
	Name    *string  `json:"name"`
	Type    *string  `json:"type"`
	Content *string  `json:"content"`
	TTL     *int     `json:"ttl"`
	Proxied *bool    `json:"proxied"`
	Comment *string  `json:"comment"`
	Tags    []string `json:"tags"`
}

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request, z *Zone) {
	var in recordInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, 9207, "Request body is invalid.")
		return
	}
	if in.Name == nil || in.Type == nil || in.Content == nil {
		fail(w, http.StatusBadRequest, 9000, "DNS name, type and content are required.")
		return
	}
	rec := &Record{ZoneID: z.ID, ZoneName: z.Name, TTL: 1, Tags: []string{}}
	if code, msg := apply(rec, in, z); code != 0 {
		fail(w, http.StatusBadRequest, code, msg)
		return
	}
	for _, old := range s.records[z.ID] {
		if old.Name == rec.Name && old.Type == rec.Type && old.Content == rec.Content {
			fail(w, http.StatusBadRequest, 81058, "An identical record already exists.")
			return
		}
	}
	rec.ID = newID()
	rec.CreatedOn, rec.ModifiedOn = time.Now().UTC(), time.Now().UTC()
	s.records[z.ID] = append(s.records[z.ID], rec)
	reply(w, http.StatusOK, rec, nil)
}

func (s *Server) updateRecord(w http.ResponseWriter, r *http.Request, z *Zone, i int) {
	var in recordInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, 9207, "Request body is invalid.")
		return
	}
	rec := *s.records[z.ID][i]
	if r.Method == http.MethodPut && (in.Name == nil || in.Type == nil || in.Content == nil) {
		fail(w, http.StatusBadRequest, 9000, "DNS name, type and content are required.")
		return
	}
	if code, msg := apply(&rec, in, z); code != 0 {
		fail(w, http.StatusBadRequest, code, msg)
		return
	}
	rec.ModifiedOn = time.Now().UTC()
	s.records[z.ID][i] = &rec
	reply(w, http.StatusOK, &rec, nil)
}

// apply validates in the way the real API does for the record types cto
// uses and copies it onto rec. A non-zero code is the API error.
func apply(rec *Record, in recordInput, z *Zone) (int, string) {
	if in.Type != nil {
		rec.Type = strings.ToUpper(*in.Type)
	}
	if in.Name != nil {
		name := absolute(*in.Name, z.Name)
		if len(name) > 255 {
			return 9005, "Content for name is too long."
		}
		rec.Name = name
	}
	if in.Content != nil {
		rec.Content = *in.Content
	}
	if in.TTL != nil {
		if *in.TTL != 1 && (*in.TTL < 60 || *in.TTL > 86400) {
			return 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."
		}
		rec.TTL = *in.TTL
	}
	if in.Proxied != nil {
		rec.Proxied = *in.Proxied
	}
	if in.Comment != nil {
		if len(*in.Comment) > 100 {
			return 9101, "Comment is too long (max 100 characters)."
		}
		c := *in.Comment
		rec.Comment = &c
	}
	if in.Tags != nil {
		rec.Tags = append([]string{}, in.Tags...)
	}
	switch rec.Type {
	case "A":
		if a, err := netip.ParseAddr(rec.Content); err != nil || !a.Is4() {
			return 9005, "Content for A record is invalid. Must be a valid IPv4 address"
		}
		rec.Proxiable = true
	case "AAAA":
		if a, err := netip.ParseAddr(rec.Content); err != nil || !a.Is6() || a.Is4In6() {
			return 9006, "Content for AAAA record is invalid. Must be a valid IPv6 address"
		}
		rec.Proxiable = true
	case "CNAME", "TXT", "MX", "NS", "CAA", "SRV":
	default:
		return 9100, "Invalid DNS record type"
	}
	return 0, ""
}

// State is what GET /_fake/state returns.
type State struct {
	Zones   []Zone              `json:"zones"`
	Records map[string][]Record `json:"records"` // by zone name
	Calls   map[string]int      `json:"calls"`
}

func (s *Server) serveState(w http.ResponseWriter) {
	s.mu.Lock()
	st := State{Records: map[string][]Record{}, Calls: maps.Clone(s.calls)}
	for _, z := range s.zones {
		st.Zones = append(st.Zones, *z)
		recs := []Record{}
		for _, r := range s.records[z.ID] {
			recs = append(recs, *r)
		}
		sort.SliceStable(recs, func(a, b int) bool { return recs[a].Name < recs[b].Name })
		st.Records[z.Name] = recs
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}
