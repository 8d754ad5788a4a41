package destroy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cto-platform/cto/internal/dns"
	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/state"
)

// FindDNS lists the cluster's DNS records under domain: those
// marked with its owner comment, and those the journal recorded (found by
// ID, in case someone edited the comment away).
func FindDNS(ctx context.Context, p dns.Provider, cluster, domain string, j *state.Journal) ([]dns.Record, error) {
	zone, err := dns.FindZone(ctx, p, domain)
	if err != nil {
		return nil, err
	}
	all, err := zone.Records(ctx)
	if err != nil {
		return nil, err
	}
	journaled := map[string]bool{}
	if j != nil {
		for _, r := range j.LiveResources(state.KindDNSRecord) {
			journaled[r.ID] = true
		}
	}
	var out []dns.Record
	for _, r := range all {
		if r.Comment == dns.Owner(cluster) || (r.ID != "" && journaled[r.ID]) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ExecuteDNS deletes the records FindDNS found and marks
// them deleted in the journal.
func ExecuteDNS(ctx context.Context, p dns.Provider, domain string, j *state.Journal, recs []dns.Record, sink events.Sink) error {
	if len(recs) == 0 {
		return nil
	}
	if sink == nil {
		sink = events.Discard
	}
	zone, err := dns.FindZone(ctx, p, domain)
	if err != nil {
		return err
	}
	if err := zone.Delete(ctx, recs); err != nil {
		return fmt.Errorf("%w; run `cto destroy` again", err)
	}
	var unjournaled error
	for _, r := range recs {
		if j != nil {
			if err := j.MarkDeleted(state.KindDNSRecord, r.ID); err != nil {
				unjournaled = errors.Join(unjournaled, fmt.Errorf("DNS record %s deleted, but not journaled as deleted: %w", r, err))
			}
		}
		sink.Emit(events.Event{Time: time.Now(), Type: events.Message, Step: "destroy", Message: "deleted DNS record " + r.String()})
	}
	return unjournaled
}
