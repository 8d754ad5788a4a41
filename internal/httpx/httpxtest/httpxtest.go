// Package httpxtest sends requests to the HTTP doubles from tests.
package httpxtest

import (
	"encoding/json"
	"net/http"
	"testing"
)

// Call sends req with the default client and returns the answer's status;
// a request that cannot be sent fails the test. When out is not nil the
// answer is decoded into it as JSON, and a decoding error is returned for
// the test to judge (some answers are rightly empty or of another shape).
func Call(t testing.TB, req *http.Request, out any) (int, error) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, err
}
