package latitude

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// createOnce sends a create that must not run twice. An answer lost (a
// 5xx, a dropped connection) may hide a create that went through: a blind
// retry makes a second VLAN without the cluster's tag, or meets 422
// NAME_ALREADY_TAKEN. So before each new attempt, and when the name is
// taken, find looks for what the create would have made.
func createOnce[T any](ctx context.Context, p *Provider, create func(context.Context) (resource[T], error),
	find func(context.Context) (resource[T], bool, error)) (resource[T], error) {
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if r, ok, err := find(ctx); err != nil || ok {
				return r, err
			}
		}
		r, err := create(ctx)
		switch {
		case err == nil:
			return r, nil
		case nameTaken(err):
			if found, ok, ferr := find(ctx); ferr != nil || ok {
				return found, ferr
			}
			return r, err
		case !lostAnswer(err) || attempt == lostAnswerAttempts || ctx.Err() != nil:
			return r, err
		}
		if err := p.cfg.Clock.Sleep(ctx, time.Duration(attempt)*2*time.Second); err != nil {
			return r, err
		}
	}
}

// nameTaken is the API's 422 for a name another object holds (the OpenAPI
// document's NAME_ALREADY_TAKEN).
func nameTaken(err error) bool {
	var api *APIError
	return errors.As(err, &api) && api.StatusCode == http.StatusUnprocessableEntity &&
		(strings.EqualFold(api.Code, "NAME_ALREADY_TAKEN") || strings.Contains(strings.ToLower(api.Detail), "already been taken"))
}
