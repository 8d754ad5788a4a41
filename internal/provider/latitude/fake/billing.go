package fake

import (
	"fmt"
	"net/http"
)

// billingFor is the billing cycle of a new server in a project, or a 422
// when the project does not allow the one asked for. The OpenAPI document's
// server create: billing "Accepts hourly and monthly for on demand projects
// and yearly for reserved projects"; plan.billing "Defaults to hourly". The
// recorded create in a reserved project sent no billing and was billed
// yearly: without one, the project decides.
func billingFor(w http.ResponseWriter, p *project, asked string) (string, bool) {
	allowed, deflt := []string{"hourly", "monthly"}, "hourly"
	if p.ProvisioningType == "reserved" {
		allowed, deflt = []string{"yearly"}, "yearly"
	}
	if asked == "" {
		return deflt, true
	}
	for _, a := range allowed {
		if a == asked {
			return asked, true
		}
	}
	writeErrorAt(w, http.StatusUnprocessableEntity, "VALIDATION_ERROR", "Validation Error",
		fmt.Sprintf("billing %s is not available for %s projects; use %v", asked, p.ProvisioningType, allowed), "/data/attributes/billing")
	return "", false
}
