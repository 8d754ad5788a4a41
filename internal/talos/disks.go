package talos

import (
	"fmt"
	"math"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/api/storage"
)

// DiskWant describes the plan's OS drive; zero values match anything.
type DiskWant struct {
	SizeGB float64
	Type   string // "nvme", "ssd" or "hdd" (case-insensitive)
}

// removable reports disks an install must never land on: optical, SD and
// USB media, and read-only devices.
func removable(d *storage.Disk) bool {
	return d.Type == storage.Disk_CD || d.Type == storage.Disk_SD || d.Readonly ||
		strings.Contains(strings.ToLower(d.BusPath), "usb") || strings.Contains(strings.ToLower(d.Subsystem), "usb")
}

// diskType reports whether a plan's drive type names a kind of disk Talos
// tells apart; anything else ("local" at Hetzner Cloud, a product name)
// says nothing about the disk and matches any type.
func diskType(t string) bool {
	switch strings.ToUpper(t) {
	case "NVME", "SSD", "HDD":
		return true
	}
	return false
}

// PickInstallDisk returns the first non-removable disk that matches want
// (size within 10%, type) and carries a serial or WWID, so the config can
// name it by identity rather than by a device path.
func PickInstallDisk(disks []*storage.Disk, want DiskWant) (Disk, error) {
	var seen []string
	for _, d := range disks {
		seen = append(seen, fmt.Sprintf("%s (%s, %.0f GB, serial %q)", d.DeviceName, d.Type, float64(d.Size)/1e9, d.Serial))
		if removable(d) || d.Size == 0 || (d.Serial == "" && d.Wwid == "") {
			continue
		}
		if diskType(want.Type) && !strings.EqualFold(want.Type, d.Type.String()) {
			continue
		}
		sizeGB := float64(d.Size) / 1e9
		if want.SizeGB > 0 && math.Abs(sizeGB-want.SizeGB) > want.SizeGB*0.1 {
			continue
		}
		return Disk{DevPath: d.DeviceName, Serial: d.Serial, WWID: d.Wwid, SizeGB: sizeGB}, nil
	}
	return Disk{}, fmt.Errorf("no disk matches the plan's OS drive (%s %.0f GB) among %s", want.Type, want.SizeGB, strings.Join(seen, ", "))
}
