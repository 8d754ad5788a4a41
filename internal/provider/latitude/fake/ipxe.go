package fake

import (
	"fmt"
	"net/http"
	"slices"
)

// DefaultIPXEAtCreate are the plans that take operating_system ipxe in a
// create. The ipxe system lists many more plans as provisionable (the
// recorded GET /plans/operating_systems lists the same plans for ipxe as for
// every other system), but latitude-api.md reports: "A team measured that
// c2-small-x86 was the only US plan accepting iPXE for them; c1-tiny-x86
// has none". The others boot iPXE through a reinstall, the reference's
// known working flow ("create with Ubuntu, then reinstall with ipxe").
var DefaultIPXEAtCreate = []string{"c2-small-x86"}

// refusesIPXE answers the 422 of a create with operating_system ipxe on a
// plan that takes it only through a reinstall. No recording holds such an
// answer: its shape is the OpenAPI document's validation error (code,
// detail and source.pointer naming the attribute).
func (f *Fake) refusesIPXE(w http.ResponseWriter, p *Plan) bool {
	at := f.opts.IPXEAtCreate
	if at == nil {
		at = DefaultIPXEAtCreate
	}
	if slices.Contains(at, p.Slug) {
		return false
	}
	writeErrorAt(w, http.StatusUnprocessableEntity, "VALIDATION_ERROR", "Validation Error",
		fmt.Sprintf("operating_system ipxe is not available at deploy for plan %s", p.Name), "/data/attributes/operating_system")
	return true
}
