// Package cloudflare is the Cloudflare adapter of package dns: the libdns
// interfaces over Cloudflare's DNS records API (v4).
//
// It is written here rather than taken from github.com/libdns/cloudflare
// because that module (v0.2.2, the newest the module proxy serves) fixes
// its endpoint in a constant and has no record comments, and cto needs both:
// a base URL for tests and air-gapped proxies, and the comment that marks
// a record as a cluster's.
package cloudflare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libdns/libdns"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/httpx"
)

// DefaultURL is Cloudflare's API.
const DefaultURL = "https://api.cloudflare.com/client/v4"

// Environment variables of the adapter.
const (
	EnvToken = "CLOUDFLARE_API_TOKEN"
	EnvURL   = "CLOUDFLARE_API_URL"
)

// Provider talks to one Cloudflare account with an API token that may edit
// DNS records (Zone.DNS:Edit) and read zones.
type Provider struct {
	token   string
	baseURL string
	client  *httpx.Client

	mu    sync.Mutex
	zones map[string]string // zone name -> ID
}

// New returns a provider for token at baseURL ("" is DefaultURL). A nil
// client is one with a 30-second timeout.
func New(token, baseURL string, client *http.Client) *Provider {
	if baseURL == "" {
		baseURL = DefaultURL
	}
	opts := httpx.Options{HTTPClient: client, Secrets: []string{token},
		// Reads and deletes are retried on 429, 5xx and lost connections;
		// creates only on 429, which refuses them before any work (a rerun
		// lists first and adopts what exists). A wait longer than
		// maxRetryAfter goes back to the caller.
		MaxAttempts: maxAttempts, BaseBackoff: 250 * time.Millisecond, MaxBackoff: maxRetryAfter, MaxRetryAfter: maxRetryAfter}
	if client != nil && client.Timeout > 0 {
		opts.Timeout = client.Timeout
	}
	return &Provider{token: token, baseURL: strings.TrimSuffix(baseURL, "/"), client: httpx.New(opts), zones: map[string]string{}}
}

var (
	_ dns.Provider        = (*Provider)(nil)
	_ dns.Authenticator   = (*Provider)(nil)
	_ libdns.ZoneLister   = (*Provider)(nil)
	_ libdns.RecordGetter = (*Provider)(nil)
)

// APIError is an error answer of the API.
type APIError struct {
	Status int
	Code   int
	Msg    string
}

func (e *APIError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("cloudflare: %s (code %d, HTTP %d)", e.Msg, e.Code, e.Status)
	}
	return fmt.Sprintf("cloudflare: HTTP %d", e.Status)
}

// Unwrap makes a refused token dns.ErrUnauthorized.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return dns.ErrUnauthorized
	}
	return nil
}

// Authenticate checks the token with Cloudflare's token verification call.
func (p *Provider) Authenticate(ctx context.Context) error {
	var res struct {
		Status string `json:"status"`
	}
	if _, err := p.do(ctx, http.MethodGet, "/user/tokens/verify", nil, nil, &res); err != nil {
		return err
	}
	if res.Status != "active" {
		return fmt.Errorf("cloudflare: %w: the token is %s", dns.ErrUnauthorized, res.Status)
	}
	return nil
}

// codeRecordNotFound is the API's "Record does not exist."
const codeRecordNotFound = 81044

type envelope struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
	Result     json.RawMessage `json:"result"`
	ResultInfo *struct {
		Page       int `json:"page"`
		PerPage    int `json:"per_page"`
		TotalPages int `json:"total_pages"`
		TotalCount int `json:"total_count"`
	} `json:"result_info"`
}

type cfZone struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type cfRecord struct {
	ID      string  `json:"id,omitempty"`
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	Content string  `json:"content"`
	TTL     int     `json:"ttl"`
	Proxied bool    `json:"proxied"`
	Comment *string `json:"comment,omitempty"`
}

// maxAttempts bounds the attempts of one call; maxRetryAfter is the
// longest wait between them.
const (
	maxAttempts   = 4
	maxRetryAfter = 30 * time.Second
)

// do sends one API call and decodes its result into out.
func (p *Provider) do(ctx context.Context, method, path string, query url.Values, body, out any) (*envelope, error) {
	u := p.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	header := http.Header{"Authorization": {"Bearer " + p.token}, "Accept": {"application/json"}}
	if body != nil {
		header.Set("Content-Type", "application/json")
	}
	creates := method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
	resp, err := p.client.Do(ctx, httpx.Request{Method: method, URL: u, Header: header, Body: payload, Unsafe: creates})
	if err != nil {
		return nil, fmt.Errorf("cloudflare: %w", err)
	}
	var env envelope
	if err := json.Unmarshal(resp.Body, &env); err != nil {
		return nil, &APIError{Status: resp.StatusCode, Msg: "the answer is not JSON"}
	}
	if resp.StatusCode >= 400 || !env.Success {
		e := &APIError{Status: resp.StatusCode, Msg: "request failed"}
		if len(env.Errors) > 0 {
			e.Code, e.Msg = env.Errors[0].Code, env.Errors[0].Message
		}
		return nil, e
	}
	if out != nil && len(env.Result) > 0 {
		if err := json.Unmarshal(env.Result, out); err != nil {
			return nil, fmt.Errorf("cloudflare: decode %s %s: %w", method, path, err)
		}
	}
	return &env, nil
}

// pages fetches every page of a list call.
func (p *Provider) pages(ctx context.Context, path string, query url.Values, each func(json.RawMessage) error) error {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("per_page", "1000")
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		env, err := p.do(ctx, http.MethodGet, path, q, nil, nil)
		if err != nil {
			return err
		}
		if err := each(env.Result); err != nil {
			return err
		}
		if env.ResultInfo == nil || page >= env.ResultInfo.TotalPages {
			return nil
		}
	}
}

// ListZones lists the account's zones.
func (p *Provider) ListZones(ctx context.Context) ([]libdns.Zone, error) {
	var out []libdns.Zone
	err := p.pages(ctx, "/zones", nil, func(raw json.RawMessage) error {
		var zs []cfZone
		if err := json.Unmarshal(raw, &zs); err != nil {
			return err
		}
		p.mu.Lock()
		for _, z := range zs {
			p.zones[z.Name] = z.ID
			out = append(out, libdns.Zone{Name: z.Name + "."})
		}
		p.mu.Unlock()
		return nil
	})
	return out, err
}

func (p *Provider) zoneID(ctx context.Context, zone string) (string, error) {
	zone = strings.TrimSuffix(strings.ToLower(zone), ".")
	p.mu.Lock()
	id, ok := p.zones[zone]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	var zs []cfZone
	if _, err := p.do(ctx, http.MethodGet, "/zones", url.Values{"name": {zone}}, nil, &zs); err != nil {
		return "", err
	}
	if len(zs) != 1 {
		return "", fmt.Errorf("cloudflare: %w %s in the account", dns.ErrNoZone, zone)
	}
	p.mu.Lock()
	p.zones[zone] = zs[0].ID
	p.mu.Unlock()
	return zs[0].ID, nil
}

// GetRecords lists every record of the zone. Address records are
// libdns.Address values whose ProviderData is a dns.Meta.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	err = p.pages(ctx, "/zones/"+id+"/dns_records", nil, func(raw json.RawMessage) error {
		var recs []cfRecord
		if err := json.Unmarshal(raw, &recs); err != nil {
			return err
		}
		for _, r := range recs {
			out = append(out, toLibdns(r, zone))
		}
		return nil
	})
	return out, err
}

func toLibdns(r cfRecord, zone string) libdns.Record {
	name := libdns.RelativeName(r.Name+".", dotted(zone))
	ttl := time.Duration(r.TTL) * time.Second
	meta := dns.Meta{ID: r.ID}
	if r.Comment != nil {
		meta.Comment = *r.Comment
	}
	if r.Type == "A" || r.Type == "AAAA" {
		if ip, err := netip.ParseAddr(r.Content); err == nil {
			return libdns.Address{Name: name, TTL: ttl, IP: ip, ProviderData: meta}
		}
	}
	rr := libdns.RR{Name: name, TTL: ttl, Type: r.Type, Data: r.Content}
	if parsed, err := rr.Parse(); err == nil {
		return parsed
	}
	return rr
}

func dotted(zone string) string {
	if strings.HasSuffix(zone, ".") {
		return zone
	}
	return zone + "."
}

// toCloudflare turns an address record into the API's form; a dns.Meta in
// ProviderData supplies the comment.
func toCloudflare(rec libdns.Record, zone string) (cfRecord, dns.Meta, error) {
	rr := rec.RR()
	var meta dns.Meta
	if a, ok := rec.(libdns.Address); ok {
		if m, ok := a.ProviderData.(dns.Meta); ok {
			meta = m
		}
	}
	if rr.Type != "A" && rr.Type != "AAAA" {
		return cfRecord{}, meta, fmt.Errorf("cloudflare: record type %s is not supported by cto's adapter", rr.Type)
	}
	ttl := int(rr.TTL.Seconds())
	if ttl < 60 {
		ttl = 1 // automatic
	}
	out := cfRecord{Name: strings.TrimSuffix(libdns.AbsoluteName(rr.Name, dotted(zone)), "."), Type: rr.Type, Content: rr.Data, TTL: ttl}
	if meta.Comment != "" {
		c := meta.Comment
		out.Comment = &c
	}
	return out, meta, nil
}

// eachRecord calls do for every record of recs, with the zone's ID and the
// record in the API's form, and returns the records the calls produced, up
// to the first error.
func (p *Provider) eachRecord(ctx context.Context, zone string, recs []libdns.Record, do func(zoneID string, rec libdns.Record, cf cfRecord, meta dns.Meta) ([]libdns.Record, error)) ([]libdns.Record, error) {
	id, err := p.zoneID(ctx, zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, rec := range recs {
		cf, meta, err := toCloudflare(rec, zone)
		if err != nil {
			return out, err
		}
		done, err := do(id, rec, cf, meta)
		out = append(out, done...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// AppendRecords creates records; each returned record carries its new ID.
func (p *Provider) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return p.eachRecord(ctx, zone, recs, func(id string, _ libdns.Record, body cfRecord, _ dns.Meta) ([]libdns.Record, error) {
		var made cfRecord
		if _, err := p.do(ctx, http.MethodPost, "/zones/"+id+"/dns_records", nil, body, &made); err != nil {
			return nil, err
		}
		return []libdns.Record{toLibdns(made, zone)}, nil
	})
}

// DeleteRecords deletes records: by the ID in their dns.Meta, else every
// record with the same name, type and content. Records already gone are
// skipped; the deleted ones are returned.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return p.eachRecord(ctx, zone, recs, func(id string, rec libdns.Record, want cfRecord, meta dns.Meta) ([]libdns.Record, error) {
		ids := []string{meta.ID}
		if meta.ID == "" {
			var found []cfRecord
			q := url.Values{"type": {want.Type}, "name.exact": {want.Name}, "content.exact": {want.Content}}
			if _, err := p.do(ctx, http.MethodGet, "/zones/"+id+"/dns_records", q, nil, &found); err != nil {
				return nil, err
			}
			ids = ids[:0]
			for _, f := range found {
				ids = append(ids, f.ID)
			}
		}
		var deleted []libdns.Record
		for _, rid := range ids {
			_, err := p.do(ctx, http.MethodDelete, "/zones/"+id+"/dns_records/"+rid, nil, nil, nil)
			var ae *APIError
			if errors.As(err, &ae) && (ae.Code == codeRecordNotFound || ae.Status == http.StatusNotFound) {
				continue
			}
			if err != nil {
				return deleted, err
			}
			deleted = append(deleted, rec)
		}
		return deleted, nil
	})
}
