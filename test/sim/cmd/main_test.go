package main

import (
	"testing"

	latfake "github.com/cto-platform/cto/internal/provider/latitude/fake"
)

// -rate-limit sets the double's per-minute quota: the documented one by
// name, or any other; a share of requests is no longer accepted.
func TestParseQuota(t *testing.T) {
	for _, c := range []struct {
		in   string
		want latfake.Quota
		bad  bool
	}{
		{in: "", want: latfake.Quota{}},
		{in: "published", want: latfake.Quota{ReadsPerMinute: 60, WritesPerMinute: 20}},
		{in: "1000/200", want: latfake.Quota{ReadsPerMinute: 1000, WritesPerMinute: 200}},
		{in: "0.3", bad: true},
		{in: "60", bad: true},
		{in: "60/0", bad: true},
		{in: "x/20", bad: true},
	} {
		got, err := parseQuota(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseQuota(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.bad)
		}
	}
}
