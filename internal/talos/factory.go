package talos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// DefaultFactoryURL is the public Talos Image Factory.
const DefaultFactoryURL = "https://factory.talos.dev"

// GPUKernelModules are loaded on GPU nodes only (Talos's NVIDIA guide);
// the extensions that carry them come with the platform's GPU component.
var GPUKernelModules = []string{"nvidia", "nvidia_uvm", "nvidia_drm", "nvidia_modeset"}

// Schematic is an Image Factory customization: what goes into the boot
// media and installer beyond plain Talos.
type Schematic struct {
	Customization Customization `json:"customization"`
}

// Customization is the body of a schematic.
type Customization struct {
	ExtraKernelArgs  []string         `json:"extraKernelArgs,omitempty"`
	SystemExtensions SystemExtensions `json:"systemExtensions,omitzero"`
}

// SystemExtensions lists official extensions by name.
type SystemExtensions struct {
	OfficialExtensions []string `json:"officialExtensions,omitempty"`
}

// SchematicFor returns the schematic carrying official extensions (e.g.
// "siderolabs/iscsi-tools"); none is plain Talos. Order and repeats do not
// matter: the same set is the same schematic.
func SchematicFor(extensions []string) Schematic {
	var s Schematic
	if len(extensions) > 0 {
		exts := slices.Clone(extensions)
		slices.Sort(exts)
		s.Customization.SystemExtensions.OfficialExtensions = slices.Compact(exts)
	}
	return s
}

// Extensions are the schematic's official extensions, sorted.
func (s Schematic) Extensions() []string {
	exts := slices.Clone(s.Customization.SystemExtensions.OfficialExtensions)
	slices.Sort(exts)
	return exts
}

// YAML renders the schematic as the factory takes it.
func (s Schematic) YAML() []byte {
	c := s
	c.Customization.SystemExtensions.OfficialExtensions = s.Extensions()
	out, err := yaml.Marshal(c)
	if err != nil {
		panic(err) // plain strings only: cannot fail
	}
	return out
}

// ID is the schematic's content address: the sha256 of its canonical YAML.
// The factory answers the same way, so same content, same ID.
func (s Schematic) ID() string {
	sum := sha256.Sum256(s.YAML())
	return hex.EncodeToString(sum[:])
}

// Factory talks to a Talos Image Factory.
type Factory struct {
	// URL is the factory's base URL (DefaultFactoryURL when empty).
	URL  string
	HTTP *http.Client
}

// BaseURL is the factory's base URL, without a trailing slash.
func (f Factory) BaseURL() string { return f.base() }

func (f Factory) base() string {
	if f.URL == "" {
		return DefaultFactoryURL
	}
	return strings.TrimRight(f.URL, "/")
}

func (f Factory) client() *http.Client {
	if f.HTTP != nil {
		return f.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// EnsureSchematic registers s with the factory and returns its ID.
// Registering the same content again returns the same ID.
func (f Factory) EnsureSchematic(ctx context.Context, s Schematic) (string, error) {
	endpoint := f.base() + "/schematics"
	hc := f.client()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(s.YAML()))
	if err != nil {
		return "", fmt.Errorf("image factory %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("image factory unreachable at %s: %w (set --image-factory-url to a reachable factory)", endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("image factory %s answered %s: %s", endpoint, resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("image factory %s returned no schematic id: %q", endpoint, truncate(string(body), 200))
	}
	return out.ID, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Images are the URLs of one schematic at one Talos version.
type Images struct {
	SchematicID string
	Version     string
	factory     string
}

// Images returns the boot and install images of a schematic.
func (f Factory) Images(schematicID, version string) Images {
	return Images{SchematicID: schematicID, Version: version, factory: f.base()}
}

func (im Images) image(file string) string {
	return fmt.Sprintf("%s/image/%s/%s/%s", im.factory, im.SchematicID, im.Version, file)
}

// Kernel is the PXE kernel.
func (im Images) Kernel() string { return im.image("kernel-amd64") }

// Initramfs is the PXE initial ramdisk.
func (im Images) Initramfs() string { return im.image("initramfs-amd64.xz") }

// ISO is the bootable ISO.
func (im Images) ISO() string { return im.image("metal-amd64.iso") }

// Raw is the compressed raw disk image (written with dd from a rescue system).
func (im Images) Raw() string { return im.image("metal-amd64.raw.xz") }

// PXE is the iPXE script URL the factory serves. The public factory serves
// it from the pxe. host; another factory from its own /pxe path.
func (im Images) PXE() string {
	base := im.factory
	if u, err := url.Parse(im.factory); err == nil && u.Host == "factory.talos.dev" {
		u.Host = "pxe.factory.talos.dev"
		base = u.String()
	}
	return fmt.Sprintf("%s/pxe/%s/%s/metal-amd64", base, im.SchematicID, im.Version)
}

// Installer is the install image: it must carry the same schematic as the
// boot media, or the extensions disappear on install.
func (im Images) Installer() string {
	host := strings.TrimPrefix(strings.TrimPrefix(im.factory, "https://"), "http://")
	return fmt.Sprintf("%s/metal-installer/%s:%s", host, im.SchematicID, im.Version)
}

// InstallerSchematic reads the schematic id from an install image that
// Installer named; ok is false for any other image.
func InstallerSchematic(image string) (id string, ok bool) {
	_, rest, ok := strings.Cut(image, "/metal-installer/")
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(rest, ":")
	return id, ok && id != ""
}

// StaticIP is a node address for providers without DHCP, rendered as the
// kernel's ip= argument.
type StaticIP struct {
	Address  string // e.g. 203.0.113.10
	Gateway  string
	Netmask  string // e.g. 255.255.255.0
	Hostname string
	DNS      []string
}

// KernelArg renders ip=<client>::<gw>:<netmask>:<hostname>:<device>:off:<dns0>:<dns1>.
func (s StaticIP) KernelArg() string {
	dns := append(slices.Clone(s.DNS), "", "")
	return fmt.Sprintf("ip=%s::%s:%s:%s::off:%s:%s", s.Address, s.Gateway, s.Netmask, s.Hostname, dns[0], dns[1])
}

// IPXEScript returns an iPXE script booting the schematic's kernel with
// talos.platform=metal, and with ip= when static is not nil.
func (im Images) IPXEScript(static *StaticIP) string {
	args := []string{"talos.platform=metal", "console=tty0", "console=ttyS0", "init_on_alloc=1", "slab_nomerge", "pti=on"}
	if static != nil {
		args = append(args, static.KernelArg())
	}
	var b strings.Builder
	b.WriteString("#!ipxe\n")
	fmt.Fprintf(&b, "kernel %s %s\n", im.Kernel(), strings.Join(args, " "))
	fmt.Fprintf(&b, "initrd %s\n", im.Initramfs())
	b.WriteString("boot\n")
	return b.String()
}

// IPXEStaticIP takes the address from iPXE's own settings, which providers
// without DHCP fill in before chain-loading: one script serves every node.
var IPXEStaticIP = StaticIP{Address: "${ip}", Gateway: "${gateway}", Netmask: "${netmask}", DNS: []string{"${dns}"}}

// Versions lists the Talos versions the factory builds images of
// (GET /versions, the factory's HTTP frontend API).
func (f Factory) Versions(ctx context.Context) ([]string, error) {
	var out []string
	err := f.getJSON(ctx, "/versions", &out)
	return out, err
}

// OfficialExtensions lists the names of the official system extensions the
// factory offers for a Talos version (GET
// /version/:version/extensions/official).
func (f Factory) OfficialExtensions(ctx context.Context, version string) ([]string, error) {
	var list []struct {
		Name string `json:"name"`
	}
	if err := f.getJSON(ctx, "/version/"+version+"/extensions/official", &list); err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.Name
	}
	return out, nil
}

func (f Factory) getJSON(ctx context.Context, path string, into any) error {
	endpoint := f.base() + path
	hc := f.client()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return fmt.Errorf("image factory %s: %w", endpoint, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("image factory unreachable at %s: %w (set --image-factory-url to a reachable factory)", endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("image factory %s answered %s: %s", endpoint, resp.Status, truncate(strings.TrimSpace(string(body)), 200))
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("image factory %s answered something that is not its JSON: %q", endpoint, truncate(string(body), 200))
	}
	return nil
}
