package httpx

import (
	"bytes"
	"io"
	"net/http"
)

// Transport returns the policy as an http.RoundTripper, for SDKs that take
// an *http.Client. POST and PATCH are treated as unsafe (retried only on
// 429, which refuses before any work): an SDK cannot say whether a lost
// answer means the order went through.
func (c *Client) Transport() http.RoundTripper { return transport{c} }

type transport struct{ c *Client }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	resp, err := t.c.Do(req.Context(), Request{
		Method: req.Method, URL: req.URL.String(), Header: req.Header, Body: body,
		Unsafe: req.Method == http.MethodPost || req.Method == http.MethodPatch,
	})
	if err != nil {
		return nil, err
	}
	return &http.Response{
		Status:        http.StatusText(resp.StatusCode),
		StatusCode:    resp.StatusCode,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        resp.Header,
		Body:          io.NopCloser(bytes.NewReader(resp.Body)),
		ContentLength: int64(len(resp.Body)),
		Request:       req,
	}, nil
}
