package talos_test

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/talos"
	"github.com/cto-platform/cto/internal/talos/fake"
)

// nvidia are the NVIDIA extensions the platform's GPU component needs.
var nvidia = []string{"siderolabs/nvidia-open-gpu-kernel-modules-production", "siderolabs/nvidia-container-toolkit-production"}

func TestFactoryRegistersSchematicsByContent(t *testing.T) {
	ff := fake.NewFactory()
	srv := httptest.NewServer(ff)
	defer srv.Close()
	f := talos.Factory{URL: srv.URL}
	ctx := context.Background()

	plain, err := f.EnsureSchematic(ctx, talos.SchematicFor(nil))
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.EnsureSchematic(ctx, talos.SchematicFor(nil))
	if err != nil {
		t.Fatal(err)
	}
	gpu, err := f.EnsureSchematic(ctx, talos.SchematicFor(nvidia))
	if err != nil {
		t.Fatal(err)
	}
	if plain != again {
		t.Errorf("same schematic, different ids: %s vs %s", plain, again)
	}
	if plain == gpu {
		t.Error("GPU schematic has the plain schematic's id")
	}
	if plain != talos.SchematicFor(nil).ID() {
		t.Errorf("factory id %s differs from the locally computed %s", plain, talos.SchematicFor(nil).ID())
	}
	body, ok := ff.Schematic(gpu)
	if !ok {
		t.Fatal("factory did not store the GPU schematic")
	}
	for _, ext := range nvidia {
		if !strings.Contains(string(body), ext) {
			t.Errorf("GPU schematic lacks %s:\n%s", ext, body)
		}
	}
	if p, _ := ff.Schematic(plain); strings.Contains(string(p), "nvidia") {
		t.Errorf("plain schematic carries NVIDIA extensions:\n%s", p)
	}
	if ff.Posts() != 3 {
		t.Errorf("posts = %d, want 3", ff.Posts())
	}
}

func TestFactoryUnreachableNamesTheURL(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lis.Addr().String()
	lis.Close() // nothing listens there now
	_, err = talos.Factory{URL: url}.EnsureSchematic(context.Background(), talos.SchematicFor(nil))
	if err == nil || !strings.Contains(err.Error(), url+"/schematics") || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("got %v, want an unreachable error naming %s/schematics", err, url)
	}
}

func TestFactoryRejectionIsAnError(t *testing.T) {
	srv := httptest.NewServer(fake.NewFactory())
	defer srv.Close()
	_, err := talos.Factory{URL: srv.URL + "/nowhere"}.EnsureSchematic(context.Background(), talos.SchematicFor(nil))
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("got %v, want the factory's 404", err)
	}
}

func TestBootURLs(t *testing.T) {
	const id = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
	im := talos.Factory{}.Images(id, "v1.13.9")
	tests := map[string]struct{ got, want string }{
		"pxe":       {im.PXE(), "https://pxe.factory.talos.dev/pxe/" + id + "/v1.13.9/metal-amd64"},
		"kernel":    {im.Kernel(), "https://factory.talos.dev/image/" + id + "/v1.13.9/kernel-amd64"},
		"initramfs": {im.Initramfs(), "https://factory.talos.dev/image/" + id + "/v1.13.9/initramfs-amd64.xz"},
		"iso":       {im.ISO(), "https://factory.talos.dev/image/" + id + "/v1.13.9/metal-amd64.iso"},
		"raw":       {im.Raw(), "https://factory.talos.dev/image/" + id + "/v1.13.9/metal-amd64.raw.xz"},
		"installer": {im.Installer(), "factory.talos.dev/metal-installer/" + id + ":v1.13.9"},
	}
	for name, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %s, want %s", name, tc.got, tc.want)
		}
	}
	own := talos.Factory{URL: "http://127.0.0.1:8080/"}.Images("abc", "v1.13.9")
	if got := own.PXE(); got != "http://127.0.0.1:8080/pxe/abc/v1.13.9/metal-amd64" {
		t.Errorf("own factory PXE = %s", got)
	}
	if got := own.Installer(); got != "127.0.0.1:8080/metal-installer/abc:v1.13.9" {
		t.Errorf("own factory installer = %s", got)
	}
}

func TestIPXEScript(t *testing.T) {
	im := talos.Factory{}.Images("abc", "v1.13.9")
	dhcp := im.IPXEScript(nil)
	lines := strings.Split(strings.TrimSpace(dhcp), "\n")
	if len(lines) != 4 || lines[0] != "#!ipxe" || lines[3] != "boot" {
		t.Fatalf("script shape:\n%s", dhcp)
	}
	if !strings.HasPrefix(lines[1], "kernel "+im.Kernel()+" ") || !strings.Contains(lines[1], " talos.platform=metal") {
		t.Errorf("kernel line: %s", lines[1])
	}
	if lines[2] != "initrd "+im.Initramfs() {
		t.Errorf("initrd line: %s", lines[2])
	}
	if strings.Contains(dhcp, "ip=") {
		t.Errorf("DHCP script has ip=:\n%s", dhcp)
	}
	static := im.IPXEScript(&talos.StaticIP{Address: "203.0.113.10", Gateway: "203.0.113.1", Netmask: "255.255.255.0", Hostname: "demo-cp1", DNS: []string{"1.1.1.1"}})
	if !strings.Contains(static, " ip=203.0.113.10::203.0.113.1:255.255.255.0:demo-cp1::off:1.1.1.1:") {
		t.Errorf("static script lacks the ip= argument:\n%s", static)
	}
	vars := im.IPXEScript(&talos.IPXEStaticIP)
	if !strings.Contains(vars, "ip=${ip}::${gateway}:${netmask}:::off:${dns}:") {
		t.Errorf("iPXE-variable script:\n%s", vars)
	}
}
