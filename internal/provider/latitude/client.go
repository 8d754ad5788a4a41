// Package latitude is the Latitude.sh provider: a small hand-written client
// for the endpoints cto needs, lenient where the live API is loose, and the
// mapping of its values onto package provider.
package latitude

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/httpx"
	"github.com/cto-platform/cto/internal/provider"
)

// DefaultAPIURL is Latitude's API endpoint.
const DefaultAPIURL = "https://api.latitude.sh"

// PageSize is what the client asks for per page of a list.
const PageSize = 100

// Client calls the Latitude.sh API through httpx.
type Client struct {
	base  string
	token string
	http  *httpx.Client
}

// NewClient returns a client for base (DefaultAPIURL when empty).
func NewClient(base, token string, h *httpx.Client) *Client {
	if base == "" {
		base = DefaultAPIURL
	}
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: h}
}

// Stats are the request counts of the client's HTTP policy.
func (c *Client) Stats() httpx.Stats { return c.http.Stats() }

// resource is one JSON:API-ish object: related objects are embedded in
// attributes, there are no links.
type resource[T any] struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Attributes T      `json:"attributes"`
}

type envelope[T any] struct {
	Data resource[T] `json:"data"`
}

type listEnvelope[T any] struct {
	Data []resource[T] `json:"data"`
	Meta listMeta      `json:"meta"`
}

type request[T any] struct {
	Data struct {
		ID         string `json:"id,omitempty"`
		Type       string `json:"type"`
		Attributes T      `json:"attributes"`
	} `json:"data"`
}

func body[T any](typ, id string, attrs T) request[T] {
	var r request[T]
	r.Data.Type, r.Data.ID, r.Data.Attributes = typ, id, attrs
	return r
}

// APIError is an error answer of the API.
type APIError struct {
	Method, Path string
	StatusCode   int
	Code         string
	Title        string
	Detail       string
	// Pointer is the JSON pointer of the attribute the API objected to.
	Pointer    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("latitude %s %s: %d", e.Method, e.Path, e.StatusCode)
	for _, s := range []string{e.Code, e.Title, e.Detail} {
		if s != "" {
			msg += " " + s
		}
	}
	return msg
}

// Is maps the API's answers onto the typed errors of package provider.
func (e *APIError) Is(target error) bool {
	switch target {
	case provider.ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case provider.ErrForbidden:
		// The OpenAPI document's 403s: FORBIDDEN "You are not authorized
		// to perform this action", FEATURE_NOT_ENABLED: the token is
		// valid, a permission is missing.
		return e.StatusCode == http.StatusForbidden
	case provider.ErrLocked:
		// The recorded PATCH of a locked server: 423 "Locked Server".
		return e.StatusCode == http.StatusLocked
	case provider.ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case provider.ErrOutOfStock:
		return e.outOfStock()
	case provider.ErrInvalid:
		return (e.StatusCode == http.StatusUnprocessableEntity || e.StatusCode == http.StatusBadRequest) && !e.outOfStock()
	case provider.ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

func (e *APIError) outOfStock() bool {
	return strings.Contains(strings.ToUpper(e.Code), "OUT_OF_STOCK") || strings.Contains(strings.ToLower(e.Detail), "no stock")
}

// Unwrap gives a rate limit its RetryAfter for callers using errors.As.
func (e *APIError) Unwrap() error {
	if e.StatusCode == http.StatusTooManyRequests {
		return &provider.RateLimitError{RetryAfter: e.RetryAfter, Detail: e.Detail}
	}
	return nil
}

type errorBody struct {
	Errors []struct {
		Code   any    `json:"code"`
		Status any    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		// Message replaces title and detail in many of the OpenAPI
		// document's error examples ({"code","message"}).
		Message string `json:"message"`
		Source  struct {
			Pointer string `json:"pointer"`
		} `json:"source"`
		Meta struct {
			RetryAfter any `json:"retry_after"`
		} `json:"meta"`
	} `json:"errors"`
}

// do sends one request; out (a pointer) receives the decoded body.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.send(ctx, method, path, q, in, out, false)
}

// send is do for requests that are unsafe to repeat blindly when unsafe is
// set (see httpx.Request.Unsafe).
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in, out any, unsafe bool) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	h := http.Header{}
	h.Set("Authorization", c.token) // Latitude takes the token raw
	h.Set("Accept", "application/vnd.api+json, application/json")
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return err
		}
		h.Set("Content-Type", "application/json")
	}
	for attempt := 1; ; attempt++ {
		resp, err := c.http.Do(ctx, httpx.Request{Method: method, URL: u, Header: h, Body: payload, Unsafe: unsafe})
		if err != nil {
			return err
		}
		if resp.StatusCode >= 300 {
			return c.apiError(method, path, resp)
		}
		if out == nil || len(bytes.TrimSpace(resp.Body)) == 0 {
			return nil
		}
		err = json.Unmarshal(resp.Body, out)
		if err == nil {
			return nil
		}
		// A garbled answer to a read (a proxy's page, a cut-off body) is
		// asked again; a write's answer is not, as the write happened.
		if method != http.MethodGet || attempt >= decodeAttempts {
			return fmt.Errorf("latitude %s %s: decode answer: %v", method, path, err)
		}
	}
}

// decodeAttempts bounds how often a read whose answer is not JSON is sent.
const decodeAttempts = 3

func (c *Client) apiError(method, path string, resp *httpx.Response) error {
	e := &APIError{Method: method, Path: path, StatusCode: resp.StatusCode}
	var eb errorBody
	if json.Unmarshal(resp.Body, &eb) == nil && len(eb.Errors) > 0 {
		first := eb.Errors[0]
		if first.Code != nil {
			e.Code = fmt.Sprint(first.Code)
		}
		e.Title, e.Detail, e.Pointer = c.http.Redact(first.Title), c.http.Redact(first.Detail), first.Source.Pointer
		if first.Message != "" && first.Message != first.Detail {
			if e.Detail != "" {
				e.Detail += ": "
			}
			e.Detail += c.http.Redact(first.Message)
		}
		if ra, ok := retryAfterMeta(first.Meta.RetryAfter); ok {
			e.RetryAfter = ra
		}
	} else {
		e.Detail = c.http.Redact(strings.TrimSpace(string(truncate(resp.Body, 200))))
	}
	if ra, ok := httpx.RetryAfter(resp.Header, time.Now()); ok {
		e.RetryAfter = ra
	}
	return e
}

// retryAfterMeta reads meta.retry_after, seconds as a number or a string.
func retryAfterMeta(v any) (time.Duration, bool) {
	var secs float64
	switch x := v.(type) {
	case float64:
		secs = x
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, false
		}
		secs = f
	default:
		return 0, false
	}
	if secs < 0 || secs > 24*60*60 {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// RetryAfterBody reads the wait a 429's body asks for in
// meta.retry_after, for answers without a Retry-After header.
func RetryAfterBody(body []byte) (time.Duration, bool) {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil || len(eb.Errors) == 0 {
		return 0, false
	}
	return retryAfterMeta(eb.Errors[0].Meta.RetryAfter)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// listAll reads every page of a paged list: 1-based page[number], asking
// for the total (stats[total]=count, answered in meta.stats.total.count as
// the OpenAPI document's pagination_meta says). It stops once the total is
// read, on an empty page, or on a page that brings nothing new (an endpoint
// that ignores paging). A short page is no end: an API that caps page[size]
// below PageSize answers full pages shorter than asked.
func listAll[T any](ctx context.Context, c *Client, path string, q url.Values) ([]resource[T], error) {
	if q == nil {
		q = url.Values{}
	}
	var all []resource[T]
	seen := map[string]bool{}
	for page := 1; ; page++ {
		q.Set("page[size]", strconv.Itoa(PageSize))
		q.Set("page[number]", strconv.Itoa(page))
		q.Set("stats[total]", "count")
		var env listEnvelope[T]
		if err := c.do(ctx, http.MethodGet, path, q, nil, &env); err != nil {
			return nil, err
		}
		added := 0
		for _, r := range env.Data {
			key := r.ID
			if key == "" { // a row without an ID is told apart by its content
				b, _ := json.Marshal(r)
				key = "#" + string(b)
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			all = append(all, r)
			added++
		}
		total, known := env.Meta.total()
		if added == 0 || known && len(all) >= total {
			return all, nil
		}
	}
}

// listMeta is a list's meta: the total when it was asked for.
type listMeta struct {
	Stats struct {
		Total json.RawMessage `json:"total"`
	} `json:"stats"`
}

// total reads meta.stats.total.count (the document's form) or a bare
// number; ok is false when the answer carries no total.
func (m listMeta) total() (int, bool) {
	if len(m.Stats.Total) == 0 {
		return 0, false
	}
	var obj struct {
		Count *int `json:"count"`
	}
	if json.Unmarshal(m.Stats.Total, &obj) == nil && obj.Count != nil {
		return *obj.Count, true
	}
	var n int
	if json.Unmarshal(m.Stats.Total, &n) == nil {
		return n, true
	}
	return 0, false
}

// Wire attributes. Only the fields cto reads are declared; everything else
// is ignored, and loosely typed fields are decoded leniently.

type PlanAttrs struct {
	Slug     string   `json:"slug"`
	Name     string   `json:"name"`
	Features []string `json:"features"`
	Specs    struct {
		CPU struct {
			Type  string  `json:"type"`
			Clock float64 `json:"clock"`
			Cores int     `json:"cores"`
			Count int     `json:"count"`
		} `json:"cpu"`
		Memory struct {
			Total float64 `json:"total"`
		} `json:"memory"`
		Drives []struct {
			Count int    `json:"count"`
			Size  string `json:"size"`
			Type  string `json:"type"`
		} `json:"drives"`
		GPU struct {
			Count int    `json:"count"`
			Type  string `json:"type"`
		} `json:"gpu"`
	} `json:"specs"`
	Regions []PlanRegion `json:"regions"`
}

type PlanRegion struct {
	Name             string   `json:"name"`
	DeploysInstantly []string `json:"deploys_instantly"`
	Locations        struct {
		Available []string `json:"available"`
		InStock   []string `json:"in_stock"`
	} `json:"locations"`
	Pricing map[string]Price `json:"pricing"`
}

type Price struct {
	Hour  float64 `json:"hour"`
	Month float64 `json:"month"`
	Year  float64 `json:"year"`
}

type OSAttrs struct {
	Name            string   `json:"name"`
	Slug            string   `json:"slug"`
	ProvisionableOn []string `json:"provisionable_on"`
}

type RegionAttrs struct {
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	Facility string `json:"facility"`
	Country  struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	} `json:"country"`
}

type ProjectAttrs struct {
	Name             string `json:"name"`
	Slug             string `json:"slug"`
	ProvisioningType string `json:"provisioning_type,omitempty"`
	Environment      string `json:"environment,omitempty"`
}

type TagAttrs struct {
	Name        string `json:"name"`
	Slug        string `json:"slug,omitempty"`
	Description string `json:"description,omitempty"`
	Color       string `json:"color,omitempty"`
}

type SSHKeyAttrs struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

type ServerAttrs struct {
	Hostname    string  `json:"hostname"`
	Status      string  `json:"status"`
	PrimaryIPv4 *string `json:"primary_ipv4"`
	CreatedAt   *string `json:"created_at"`
	Locked      bool    `json:"locked"`
	Site        string  `json:"site"`
	Plan        struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Slug    string `json:"slug"`
		Billing string `json:"billing"`
	} `json:"plan"`
	Region struct {
		Site struct {
			Slug string `json:"slug"`
		} `json:"site"`
	} `json:"region"`
	Project struct {
		ID string `json:"id"`
	} `json:"project"`
	OperatingSystem struct {
		Slug string `json:"slug"`
	} `json:"operating_system"`
	Tags       tagRefs     `json:"tags"`
	Interfaces []Interface `json:"interfaces"`
}

// tagRefs accepts tags as IDs or as embedded tag objects.
type tagRefs []tagRef

type tagRef struct{ ID, Name string }

func (t *tagRefs) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil // null or an unexpected shape: no tags
	}
	for _, r := range raw {
		var id string
		if json.Unmarshal(r, &id) == nil {
			*t = append(*t, tagRef{ID: id})
			continue
		}
		var obj struct{ ID, Name string }
		if json.Unmarshal(r, &obj) == nil {
			*t = append(*t, tagRef{ID: obj.ID, Name: obj.Name})
		}
	}
	return nil
}

func (t tagRefs) has(id string) bool {
	for _, r := range t {
		if r.ID == id {
			return true
		}
	}
	return false
}

type CreateServerAttrs struct {
	Project         string   `json:"project"`
	Plan            string   `json:"plan"`
	Site            string   `json:"site"`
	OperatingSystem string   `json:"operating_system"`
	Hostname        string   `json:"hostname"`
	SSHKeys         []string `json:"ssh_keys,omitempty"`
	IPXE            string   `json:"ipxe,omitempty"`
	Billing         string   `json:"billing,omitempty"`
}

type VLANAttrs struct {
	VID         int     `json:"vid"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Site        string  `json:"site"`
	Tags        tagRefs `json:"tags"`
	Region      struct {
		Site struct {
			Slug string `json:"slug"`
		} `json:"site"`
	} `json:"region"`
}

type AssignmentAttrs struct {
	VirtualNetworkID string `json:"virtual_network_id"`
	VID              int    `json:"vid"`
	ServerID         string `json:"server_id"`
	Status           string `json:"status"`
	Server           struct {
		ID string `json:"id"`
	} `json:"server"`
}

type IPAttrs struct {
	Address string `json:"address"`
	CIDR    string `json:"cidr"`
	Gateway string `json:"gateway"`
	Netmask string `json:"netmask"`
	Type    string `json:"type"`
	Family  string `json:"family"`
}

// Endpoints.

func filters(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set("filter["+kv[i]+"]", kv[i+1])
		}
	}
	return q
}

// Plans lists the plans in one call: the OpenAPI document gives GET /plans
// no paging parameters, and the recorded call answered all 19 at once.
func (c *Client) Plans(ctx context.Context, q url.Values) ([]resource[PlanAttrs], error) {
	var out listEnvelope[PlanAttrs]
	err := c.do(ctx, http.MethodGet, "/plans", q, nil, &out)
	return out.Data, err
}

func (c *Client) OperatingSystems(ctx context.Context) ([]resource[OSAttrs], error) {
	return listAll[OSAttrs](ctx, c, "/plans/operating_systems", nil)
}

func (c *Client) Regions(ctx context.Context) ([]resource[RegionAttrs], error) {
	return listAll[RegionAttrs](ctx, c, "/regions", nil)
}

func (c *Client) Projects(ctx context.Context, q url.Values) ([]resource[ProjectAttrs], error) {
	return listAll[ProjectAttrs](ctx, c, "/projects", q)
}

func (c *Client) CreateProject(ctx context.Context, name string) (resource[ProjectAttrs], error) {
	var out envelope[ProjectAttrs]
	err := c.send(ctx, http.MethodPost, "/projects", nil,
		body("projects", "", ProjectAttrs{Name: name, ProvisioningType: "on_demand", Environment: "Production"}), &out, true)
	return out.Data, err
}

func (c *Client) SSHKeys(ctx context.Context) ([]resource[SSHKeyAttrs], error) {
	return listAll[SSHKeyAttrs](ctx, c, "/ssh_keys", nil)
}

func (c *Client) CreateSSHKey(ctx context.Context, name, publicKey string) (resource[SSHKeyAttrs], error) {
	var out envelope[SSHKeyAttrs]
	err := c.do(ctx, http.MethodPost, "/ssh_keys", nil, body("ssh_keys", "", SSHKeyAttrs{Name: name, PublicKey: publicKey}), &out)
	return out.Data, err
}

// Tags lists the team's tags (the endpoint is not paged).
func (c *Client) Tags(ctx context.Context) ([]resource[TagAttrs], error) {
	var out listEnvelope[TagAttrs]
	err := c.do(ctx, http.MethodGet, "/tags", nil, nil, &out)
	return out.Data, err
}

func (c *Client) CreateTag(ctx context.Context, name, description string) (resource[TagAttrs], error) {
	var out envelope[TagAttrs]
	err := c.send(ctx, http.MethodPost, "/tags", nil, body("tags", "", TagAttrs{Name: name, Description: description, Color: "#2f6fdf"}), &out, true)
	return out.Data, err
}

// Servers lists servers matching filters (project, hostname, tags, ...).
func (c *Client) Servers(ctx context.Context, q url.Values) ([]resource[ServerAttrs], error) {
	return listAll[ServerAttrs](ctx, c, "/servers", q)
}

// CreateServer orders a server. A lost answer is not repeated here: the
// order may have gone through, so the caller looks the hostname up first.
// The creates of projects, tags, VLANs and assignments are sent so too.
func (c *Client) CreateServer(ctx context.Context, a CreateServerAttrs) (resource[ServerAttrs], error) {
	var out envelope[ServerAttrs]
	err := c.send(ctx, http.MethodPost, "/servers", nil, body("servers", "", a), &out, true)
	return out.Data, err
}

func (c *Client) GetServer(ctx context.Context, id string) (resource[ServerAttrs], error) {
	var out envelope[ServerAttrs]
	err := c.do(ctx, http.MethodGet, "/servers/"+url.PathEscape(id), nil, nil, &out)
	return out.Data, err
}

// TagServer sets a server's tags (PATCH replaces the whole list).
func (c *Client) TagServer(ctx context.Context, id string, tagIDs []string) (resource[ServerAttrs], error) {
	var out envelope[ServerAttrs]
	err := c.do(ctx, http.MethodPatch, "/servers/"+url.PathEscape(id), nil, body("servers", id, map[string]any{"tags": tagIDs}), &out)
	return out.Data, err
}

func (c *Client) DeleteServer(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/servers/"+url.PathEscape(id), nil, nil, nil)
}

// Reinstall boots a server again with an operating system (ipxe: a URL or
// a script, which is sent base64-encoded).
func (c *Client) Reinstall(ctx context.Context, id, os, hostname, ipxe string) error {
	attrs := map[string]any{"operating_system": os, "hostname": hostname}
	if ipxe != "" {
		attrs["ipxe"] = ipxe
	}
	return c.do(ctx, http.MethodPost, "/servers/"+url.PathEscape(id)+"/reinstall", nil, body("reinstalls", "", attrs), nil)
}

func (c *Client) Rescue(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/servers/"+url.PathEscape(id)+"/rescue_mode", nil, nil, nil)
}

func (c *Client) ExitRescue(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/servers/"+url.PathEscape(id)+"/exit_rescue_mode", nil, nil, nil)
}

// Power runs power_on, power_off or reboot.
func (c *Client) Power(ctx context.Context, id, action string) error {
	return c.do(ctx, http.MethodPost, "/servers/"+url.PathEscape(id)+"/actions", nil, body("actions", "", map[string]string{"action": action}), nil)
}

func (c *Client) VirtualNetworks(ctx context.Context, q url.Values) ([]resource[VLANAttrs], error) {
	return listAll[VLANAttrs](ctx, c, "/virtual_networks", q)
}

func (c *Client) CreateVirtualNetwork(ctx context.Context, project, site, description string) (resource[VLANAttrs], error) {
	var out envelope[VLANAttrs]
	err := c.send(ctx, http.MethodPost, "/virtual_networks", nil,
		body("virtual_network", "", map[string]string{"description": description, "site": site, "project": project}), &out, true)
	return out.Data, err
}

func (c *Client) TagVirtualNetwork(ctx context.Context, id string, tagIDs []string) error {
	return c.do(ctx, http.MethodPatch, "/virtual_networks/"+url.PathEscape(id), nil, body("virtual_networks", id, map[string]any{"tags": tagIDs}), nil)
}

func (c *Client) DeleteVirtualNetwork(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/virtual_networks/"+url.PathEscape(id), nil, nil, nil)
}

func (c *Client) Assignments(ctx context.Context, q url.Values) ([]resource[AssignmentAttrs], error) {
	return listAll[AssignmentAttrs](ctx, c, "/virtual_networks/assignments", q)
}

func (c *Client) Assign(ctx context.Context, networkID, serverID string) (resource[AssignmentAttrs], error) {
	var out envelope[AssignmentAttrs]
	err := c.send(ctx, http.MethodPost, "/virtual_networks/assignments", nil,
		body("virtual_network_assignment", "", map[string]string{"server_id": serverID, "virtual_network_id": networkID}), &out, true)
	return out.Data, err
}

func (c *Client) DeleteAssignment(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/virtual_networks/assignments/"+url.PathEscape(id), nil, nil, nil)
}

func (c *Client) IPs(ctx context.Context, serverID string) ([]resource[IPAttrs], error) {
	return listAll[IPAttrs](ctx, c, "/ips", filters("server", serverID))
}

// ipxeValue is what the ipxe attribute takes: a URL, or a script in base64.
func ipxeValue(b provider.Boot) string {
	if b.Script != "" {
		return base64.StdEncoding.EncodeToString([]byte(b.Script))
	}
	return b.URL
}
