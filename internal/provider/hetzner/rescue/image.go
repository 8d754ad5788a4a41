// Package rescue writes Talos onto a server's disk from a Hetzner rescue
// system: it finds Talos images at an Image Factory, connects to the rescue
// system over SSH, reads its disks, picks the install disk and streams the
// raw image onto it. Both Hetzner providers use it: Robot to install
// dedicated servers, Cloud to build its Talos snapshots.
package rescue

import (
	"net/url"
	"strings"
)

// Image is one Talos build at an Image Factory: a schematic and a version.
type Image struct {
	// Factory is the factory's base URL, e.g. https://factory.talos.dev.
	Factory   string
	Schematic string
	Version   string
}

// ParseFactoryURL reads the schematic and version out of an Image Factory
// URL: an iPXE URL (https://pxe.factory.talos.dev/pxe/<id>/<version>/...)
// or an image URL (https://factory.talos.dev/image/<id>/<version>/...).
func ParseFactoryURL(raw string) (Image, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Image{}, false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 3 || (parts[0] != "pxe" && parts[0] != "image") || parts[1] == "" || !strings.HasPrefix(parts[2], "v") {
		return Image{}, false
	}
	host := u.Host
	if parts[0] == "pxe" {
		host = strings.TrimPrefix(host, "pxe.")
	}
	return Image{Factory: u.Scheme + "://" + host, Schematic: parts[1], Version: parts[2]}, true
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
