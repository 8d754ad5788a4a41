// Package rescue writes Talos onto a server's disk from a Hetzner rescue
// system: it finds Talos images at an Image Factory, connects to the rescue
// system over SSH, reads its disks, picks the install disk and streams the
// raw image onto it. Both Hetzner providers use it: Robot to install
// dedicated servers, Cloud to build its Talos snapshots.
package rescue

import (
	"strings"
)

// Image is one Talos build at an Image Factory: a schematic and a version.
type Image struct {
	// Factory is the factory's base URL, e.g. https://factory.talos.dev.
	Factory   string
	Schematic string
	Version   string
}

// URL is the address of one of the build's files, e.g. metal-amd64.raw.xz.
func (i Image) URL(file string) string {
	return strings.TrimRight(i.Factory, "/") + "/image/" + i.Schematic + "/" + i.Version + "/" + file
}

// Files the Hetzner providers write.
const (
	MetalImage  = "metal-amd64.raw.xz"  // dedicated servers
	HcloudImage = "hcloud-amd64.raw.xz" // Hetzner Cloud snapshots
)
