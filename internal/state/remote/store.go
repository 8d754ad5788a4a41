package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

var (
	// ErrPrecondition is S3's 412 Precondition Failed (or 409
	// ConditionalRequestConflict): a conditional write lost to another one.
	ErrPrecondition = errors.New("precondition failed")
	// ErrNotFound is a missing object.
	ErrNotFound = errors.New("not found")
)

// requestTimeout bounds one request, so a store that stops answering is
// retried rather than waited on forever.
const requestTimeout = 20 * time.Second

// Store is the bucket (and prefix) holding state.
type Store struct {
	Loc    Location
	client *s3.Client
	// Uploaded counts bytes sent in object bodies; Puts counts writes.
	Uploaded, Puts atomic.Int64
}

// Open connects to the store of loc with the standard AWS configuration
// (variables, shared files, profiles). It sends no request.
func Open(ctx context.Context, loc Location) (*Store, error) {
	var opts []func(*config.LoadOptions) error
	if loc.Region != "" {
		opts = append(opts, config.WithRegion(loc.Region))
	}
	if loc.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(loc.Profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for %s: %v", loc, err)
	}
	if cfg.Region == "" {
		if loc.Endpoint == "" {
			return nil, fmt.Errorf("no AWS region for %s: set AWS_REGION or add ?region=R to --state", loc)
		}
		// S3-compatible stores mostly ignore the region but the request
		// signature needs one.
		cfg.Region = "us-east-1"
	}
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTimeout(requestTimeout)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if loc.Endpoint != "" {
			o.BaseEndpoint = aws.String(loc.Endpoint)
		}
		o.UsePathStyle = loc.PathStyle
		// Checksums only where S3 requires them: S3-compatible stores
		// do not all know the newer checksum headers.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Store{Loc: loc, client: client}, nil
}

// Object is an object's content and version.
type Object struct {
	Data []byte
	ETag string
	// Date is the store's clock when it answered (the Date header), so
	// lock expiry is judged on one clock whatever the machines' clocks say.
	Date time.Time
	// Modified is the store's time of the last write.
	Modified time.Time
}

// Get reads an object; a missing one is ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (*Object, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Loc.Bucket, Key: aws.String(s.Loc.key(key))})
	if err != nil {
		return nil, s.wrap("read", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.Loc.key(key), err)
	}
	return &Object{Data: data, ETag: aws.ToString(out.ETag), Date: responseDate(out.ResultMetadata), Modified: aws.ToTime(out.LastModified)}, nil
}

// Cond is the condition of a write: IfNoneMatch (create only) or IfMatch
// (replace only that version), or neither.
type Cond struct {
	IfNoneMatch bool
	IfMatch     string
}

// Put writes an object under a condition and returns its new ETag.
func (s *Store) Put(ctx context.Context, key string, data []byte, c Cond) (string, error) {
	in := &s3.PutObjectInput{Bucket: &s.Loc.Bucket, Key: aws.String(s.Loc.key(key)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}
	if c.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if c.IfMatch != "" {
		in.IfMatch = aws.String(c.IfMatch)
	}
	s.Puts.Add(1)
	s.Uploaded.Add(int64(len(data)))
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return "", s.wrap("write", key, err)
	}
	return aws.ToString(out.ETag), nil
}

// Delete removes an object, only if its ETag is ifMatch when that is set.
func (s *Store) Delete(ctx context.Context, key, ifMatch string) error {
	in := &s3.DeleteObjectInput{Bucket: &s.Loc.Bucket, Key: aws.String(s.Loc.key(key))}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	if _, err := s.client.DeleteObject(ctx, in); err != nil {
		return s.wrap("delete", key, err)
	}
	return nil
}

// List returns the keys (relative to the prefix) under dir, and the
// sub-folders when delimited.
func (s *Store) List(ctx context.Context, dir string, delimited bool) (keys, folders []string, err error) {
	prefix := s.Loc.key(dir) + "/"
	in := &s3.ListObjectsV2Input{Bucket: &s.Loc.Bucket, Prefix: aws.String(prefix)}
	if delimited {
		in.Delimiter = aws.String("/")
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, s.wrap("list", dir, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key)[len(prefix):])
		}
		for _, cp := range page.CommonPrefixes {
			f := aws.ToString(cp.Prefix)[len(prefix):]
			folders = append(folders, f[:len(f)-1])
		}
	}
	return keys, folders, nil
}

func (s *Store) wrap(op, key string, err error) error {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusPreconditionFailed, http.StatusConflict:
			return fmt.Errorf("%s %s/%s: %w", op, s.Loc, key, ErrPrecondition)
		case http.StatusNotFound:
			return fmt.Errorf("%s %s/%s: %w", op, s.Loc, key, ErrNotFound)
		}
	}
	return fmt.Errorf("%s %s/%s: %w", op, s.Loc, key, err)
}

func responseDate(md middleware.Metadata) time.Time {
	if raw, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && raw != nil {
		if t, err := http.ParseTime(raw.Header.Get("Date")); err == nil {
			return t
		}
	}
	return time.Now()
}
