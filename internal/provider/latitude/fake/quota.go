package fake

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Quota is the API's per-key request budget. latitude-api.md: "Rate limits
// per key, answered 429 with code RATE_LIMIT_EXCEEDED, meta.retry_after
// (seconds) and a Retry-After header"; the published figures are 60 reads
// and 20 writes per minute. Zero fields are unlimited.
type Quota struct {
	ReadsPerMinute, WritesPerMinute int
}

// PublishedQuota is the low published figure the reference says to design
// for.
var PublishedQuota = Quota{ReadsPerMinute: 60, WritesPerMinute: 20}

// quotaWindow is the requests a quota counts, by class.
type quotaWindow struct {
	reads, writes []time.Time
}

// overQuota answers 429 when the request goes over the per-minute quota
// of its class (GET and HEAD read; everything else writes), counting the
// requests of the last simulated minute; the caller holds f.mu.
func (f *Fake) overQuota(w http.ResponseWriter, r *http.Request) bool {
	q := f.opts.Quota
	limit, sent := q.WritesPerMinute, &f.quota.writes
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		limit, sent = q.ReadsPerMinute, &f.quota.reads
	}
	if limit <= 0 {
		return false
	}
	now := f.now()
	kept := (*sent)[:0]
	for _, t := range *sent {
		if now.Sub(t) < time.Minute {
			kept = append(kept, t)
		}
	}
	*sent = kept
	if len(kept) < limit {
		*sent = append(*sent, now)
		return false
	}
	// Come back when the oldest counted request leaves the window.
	wait := int(math.Ceil(time.Minute.Seconds() - now.Sub(kept[0]).Seconds()))
	f.sent429++
	w.Header().Set("Retry-After", strconv.Itoa(max(wait, 1)))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"errors": []map[string]any{{
		"code": "RATE_LIMIT_EXCEEDED", "status": "429", "title": "Too Many Requests",
		"detail": "Rate limit exceeded, retry later", "meta": map[string]any{"retry_after": max(wait, 1)}}}})
	return true
}
