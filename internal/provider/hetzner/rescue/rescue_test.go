package rescue_test

import (
	"strings"
	"testing"

	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
)

func TestImageURL(t *testing.T) {
	img := rescue.Image{Factory: "https://factory.talos.dev/", Schematic: "s", Version: "v1.13.9"}
	if got := img.URL(rescue.MetalImage); got != "https://factory.talos.dev/image/s/v1.13.9/metal-amd64.raw.xz" {
		t.Errorf("URL = %s", got)
	}
}

func TestChooseInstallDisk(t *testing.T) {
	const gb = int64(1) << 30
	for _, tc := range []struct {
		name  string
		disks []rescue.Disk
		want  string
	}{
		{"NVMe pair over big spinning disks", []rescue.Disk{
			{Name: "sda", SizeBytes: 4000 * gb, Type: "disk", Rotational: true, Transport: "sata"},
			{Name: "nvme1n1", SizeBytes: 512 * gb, Type: "disk", Transport: "nvme"},
			{Name: "nvme0n1", SizeBytes: 512 * gb, Type: "disk", Transport: "nvme"},
			{Name: "sdb", SizeBytes: 4000 * gb, Type: "disk", Rotational: true, Transport: "sata"},
		}, "nvme0n1"},
		{"smallest solid-state disk is the OS disk", []rescue.Disk{
			{Name: "nvme0n1", SizeBytes: 3840 * gb, Type: "disk", Transport: "nvme"},
			{Name: "sda", SizeBytes: 240 * gb, Type: "disk", Transport: "sata"},
		}, "sda"},
		{"no removable media, loop devices or tiny disks", []rescue.Disk{
			{Name: "sdc", SizeBytes: 16 * gb, Type: "disk", Removable: true, Transport: "usb"},
			{Name: "loop0", SizeBytes: 2 * gb, Type: "loop"},
			{Name: "sdd", SizeBytes: 1 * gb, Type: "disk"},
			{Name: "sda", SizeBytes: 2000 * gb, Type: "disk", Rotational: true},
		}, "sda"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := rescue.ChooseInstallDisk(tc.disks)
			if err != nil || d.Name != tc.want {
				t.Errorf("ChooseInstallDisk = %s, %v; want %s", d.Name, err, tc.want)
			}
		})
	}
	if _, err := rescue.ChooseInstallDisk([]rescue.Disk{{Name: "sr0", Type: "rom", SizeBytes: 1 << 40}}); err == nil {
		t.Errorf("a machine without a disk got one")
	}
}

func TestParseDisksAcceptsBothLsblkStyles(t *testing.T) {
	old := `{"blockdevices": [{"name":"sda","size":"480103981056","type":"disk","model":"SAMSUNG MZ7LM480","serial":"S1","rota":"0","rm":"0","tran":"sata"}]}`
	cur := `{"blockdevices": [{"name":"nvme0n1","size":512110190592,"type":"disk","model":"SAMSUNG MZVL2512","serial":"S2","rota":false,"rm":false,"tran":"nvme"}]}`
	a, err := rescue.ParseDisks([]byte(old))
	if err != nil || len(a) != 1 || a[0].SizeBytes != 480103981056 || a[0].Rotational || a[0].Transport != "sata" {
		t.Errorf("old lsblk: %+v, %v", a, err)
	}
	b, err := rescue.ParseDisks([]byte(cur))
	if err != nil || len(b) != 1 || b[0].SizeBytes != 512110190592 || b[0].Name != "nvme0n1" {
		t.Errorf("current lsblk: %+v, %v", b, err)
	}
}

func TestWriteImageCommand(t *testing.T) {
	cmd, err := rescue.WriteImageCommand("https://factory.talos.dev/image/s/v1.13.9/metal-amd64.raw.xz", "nvme0n1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"set -o pipefail", "wipefs --all --force /dev/nvme0n1", "'https://factory.talos.dev/image/s/v1.13.9/metal-amd64.raw.xz'", "xz -d", "dd of=/dev/nvme0n1"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("command %q lacks %q", cmd, want)
		}
	}
	if _, err := rescue.WriteImageCommand("https://x/'; rm -rf /", "sda"); err == nil {
		t.Errorf("a quote in the URL reached the shell")
	}
	if _, err := rescue.WriteImageCommand("https://x/a.raw.xz", "sda; reboot"); err == nil {
		t.Errorf("a shell word as the disk reached the shell")
	}
}
