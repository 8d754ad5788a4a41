// Package remote keeps clusters' state in an S3-compatible object store so a
// team (or a CI job) shares one copy: the journal, the secrets encrypted with
// age, and a lock that holds across machines, built on S3's conditional
// writes the way Terraform's S3 backend locks its state.
//
// A command works on a local copy of the cluster's folder, as it does
// without a store: the fsync'd local journal stays the write-ahead record of
// every resource ID, and a Replica copies the folder to the store within a
// bounded lag and once more when the command ends.
package remote

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Location is where state lives: s3://BUCKET/PREFIX, with the query
// parameters gocloud.dev's s3blob URLs take for S3-compatible stores.
type Location struct {
	Bucket    string
	Prefix    string // without leading or trailing "/"; may be empty
	Endpoint  string // "" for AWS S3
	Region    string // "" to take it from the AWS configuration
	PathStyle bool
	Profile   string // AWS shared-config profile; "" for the default chain
}

// S3 bucket naming rules (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
// 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending
// with a letter or digit.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseURL reads a --state URL. Its errors are one line naming the fix.
func ParseURL(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" {
		return Location{}, fmt.Errorf("--state %q is not an s3:// URL; use s3://BUCKET/PREFIX (with ?endpoint=http://host:port&region=R&use_path_style=true for S3-compatible stores)", s)
	}
	if !bucketName.MatchString(u.Host) {
		return Location{}, fmt.Errorf("--state %q: %q is not an S3 bucket name (3-63 lower-case letters, digits, '.' and '-')", s, u.Host)
	}
	loc := Location{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	if strings.Contains(loc.Prefix, "//") {
		return Location{}, fmt.Errorf("--state %q: the prefix has an empty path segment", s)
	}
	for k, v := range u.Query() {
		val := v[len(v)-1]
		switch k {
		case "endpoint":
			e, err := url.Parse(val)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return Location{}, fmt.Errorf("--state %q: endpoint %q is not an http:// or https:// URL", s, val)
			}
			loc.Endpoint = strings.TrimRight(val, "/")
		case "region":
			loc.Region = val
		case "use_path_style", "s3ForcePathStyle":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return Location{}, fmt.Errorf("--state %q: %s=%q is not true or false", s, k, val)
			}
			loc.PathStyle = b
		case "profile":
			loc.Profile = val
		default:
			return Location{}, fmt.Errorf("--state %q: unknown parameter %q; cto knows endpoint, region, use_path_style and profile", s, k)
		}
	}
	return loc, nil
}

// String is the location as a URL, without the parameters.
func (l Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// key returns the object key of a path under the prefix.
func (l Location) key(parts ...string) string {
	p := strings.Join(parts, "/")
	if l.Prefix == "" {
		return p
	}
	return l.Prefix + "/" + p
}
