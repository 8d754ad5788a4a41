package fake

import (
	"net/http"
	"time"
)

// StaleReadAfterReinstall is how long a server still reads as it did
// before its reinstall. latitude-api.md: "After a reinstall a stale "on"
// can be read: wait for a status change first."
const StaleReadAfterReinstall = 5 * time.Second

// reinstallState is a reinstall under way.
type reinstallState struct {
	At    time.Time
	Stale string // the status read before the reinstall
}

// reinstallStatus is a reinstalling server's status: the stale one at
// first, then disk_erasing (the OpenAPI document's server status:
// "disk_erasing - The server is in reinstalling state") for the first
// quarter of a deploy, then status goes on as for a create (deploying, "The
// server is deploying or reinstalling", then on). ok is false when no
// reinstall is under way.
func (f *Fake) reinstallStatus(s *server) (string, bool) {
	if s.Reinstall == nil {
		return "", false
	}
	el := f.now().Sub(s.Reinstall.At)
	switch {
	case el < StaleReadAfterReinstall:
		return s.Reinstall.Stale, true
	case el < f.opts.DeployTime/4:
		return "disk_erasing", true
	}
	return "", false
}

// reinstall is POST /servers/{id}/reinstall. The OpenAPI document's 422
// examples: SERVER_BEING_PROVISIONED while the server deploys; an ipxe
// reinstall needs ipxe (latitude-api.md). It answers 201 without a body,
// as the document's example ({}) and the reference say.
func (f *Fake) reinstall(w http.ResponseWriter, r *http.Request) {
	var a struct {
		OperatingSystem string `json:"operating_system"`
		Hostname        string `json:"hostname"`
		IPXE            string `json:"ipxe"`
	}
	if !f.typed(w, r, &a) {
		return
	}
	withID(f, w, r, f.findServer, func(s *server) {
		switch st := f.status(s); {
		case st != "on" && st != "off" && st != "failed_deployment":
			writeError(w, http.StatusUnprocessableEntity, "SERVER_BEING_PROVISIONED", "Unable to reinstall", "Server is being provisioned")
			return
		case a.OperatingSystem == "ipxe" && a.IPXE == "":
			invalid(w, "ipxe is required when operating_system is ipxe")
			return
		case !knownOS(a.OperatingSystem):
			invalid(w, "operating_system "+a.OperatingSystem+" is not valid")
			return
		default:
			s.Reinstall = &reinstallState{At: f.now(), Stale: st}
		}
		s.OS, s.IPXE, s.CreatedAt, s.Fail, s.Announced, s.PoweredOff = a.OperatingSystem, a.IPXE, f.now(), false, false, false
		if a.Hostname != "" {
			s.Hostname = a.Hostname
		}
		w.WriteHeader(http.StatusCreated)
	})
}

func knownOS(slug string) bool {
	for _, o := range operatingSystems {
		if o.Slug == slug {
			return true
		}
	}
	return false
}
