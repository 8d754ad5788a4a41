package provider_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cto-platform/cto/internal/provider"
)

// twoHalves records the order of a create's calls; CreateServer and
// FinishServer fail when told to.
type twoHalves struct {
	provider.Provider
	calls                  *[]string
	createFails, finishErr error
}

func (p twoHalves) CreateServer(ctx context.Context, s provider.ServerSpec) (provider.Server, error) {
	*p.calls = append(*p.calls, "create")
	return provider.Server{ID: "s1", Status: provider.StatusPending}, p.createFails
}

func (p twoHalves) FinishServer(ctx context.Context, s provider.ServerSpec, created provider.Server) (provider.Server, error) {
	*p.calls = append(*p.calls, "finish "+created.ID)
	created.Status = provider.StatusReady
	return created, p.finishErr
}

func TestCreateJournalsBetweenTheHalves(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name          string
		p             func(*[]string) twoHalves
		want          []string
		wantErr       error
		wantStatus    provider.Status
		journalRefuse bool
	}{
		{name: "both halves", p: func(c *[]string) twoHalves { return twoHalves{calls: c} },
			want: []string{"create", "journal s1", "finish s1"}, wantStatus: provider.StatusReady},
		{name: "the create fails with an ID", p: func(c *[]string) twoHalves { return twoHalves{calls: c, createFails: boom} },
			want: []string{"create", "journal s1"}, wantErr: boom, wantStatus: provider.StatusPending},
		{name: "the finish fails", p: func(c *[]string) twoHalves { return twoHalves{calls: c, finishErr: boom} },
			want: []string{"create", "journal s1", "finish s1"}, wantErr: boom, wantStatus: provider.StatusReady},
		{name: "the journal refuses", p: func(c *[]string) twoHalves { return twoHalves{calls: c} }, journalRefuse: true,
			want: []string{"create", "journal s1"}, wantErr: boom, wantStatus: provider.StatusPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			s, err := provider.Create(context.Background(), tc.p(&calls), provider.ServerSpec{Hostname: "n1"}, func(s provider.Server) error {
				calls = append(calls, "journal "+s.ID)
				if tc.journalRefuse {
					return boom
				}
				return nil
			})
			if !slices.Equal(calls, tc.want) {
				t.Errorf("calls %v, want %v", calls, tc.want)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if s.ID != "s1" || s.Status != tc.wantStatus {
				t.Errorf("server %+v, want s1 %s: the server is never lost", s, tc.wantStatus)
			}
		})
	}
}

func TestUnfinishedIsTakenOnce(t *testing.T) {
	var u provider.Unfinished[int]
	u.Put("a", 1)
	if v, ok := u.Take("a"); !ok || v != 1 {
		t.Fatalf("Take = %d %v, want 1", v, ok)
	}
	if _, ok := u.Take("a"); ok {
		t.Fatal("taken twice")
	}
}
