package sim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// talosBoot is a Talos kernel an iPXE target boots, and its command line.
type talosBoot struct {
	Schematic, Version string
	// Args are the kernel's arguments, split as the kernel splits them.
	Args []string
}

// factoryPXEArgs are the kernel arguments of the script the Image Factory
// serves at /pxe/<schematic>/<version>/metal-amd64 (the factory's PXE
// template: talos.platform=metal and the KSPP arguments, no ip=).
var factoryPXEArgs = []string{"talos.platform=metal", "console=tty0", "init_on_alloc=1", "slab_nomerge", "pti=on"}

// bootTarget reads what a server's iPXE ran: a URL it chain-loaded, or a
// script ("#!ipxe", then kernel <url> <args...>, initrd <url>, boot: the
// iPXE commands latitude-api.md and talos.md describe). It must start the
// kernel and initramfs of the Image Factory double for a schematic the
// factory knows, or no Talos boots.
func (s *Sim) bootTarget(target string) (talosBoot, error) {
	if strings.HasPrefix(target, "#!ipxe") {
		return s.bootScript(target)
	}
	rest, ok := strings.CutPrefix(target, s.factorySrv.URL+"/pxe/")
	if !ok {
		return talosBoot{}, fmt.Errorf("%q is not the Image Factory's PXE script", target)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "metal-amd64" {
		return talosBoot{}, fmt.Errorf("%q is not a factory PXE path /pxe/<schematic>/<version>/metal-amd64", target)
	}
	b := talosBoot{Schematic: parts[0], Version: parts[1], Args: factoryPXEArgs}
	return b, s.knownSchematic(b)
}

// bootScript runs an iPXE script's kernel, initrd and boot commands (iPXE
// command reference: kernel <uri> [args], initrd <uri>, boot). Without a
// boot command, or without a kernel or initrd, nothing starts.
func (s *Sim) bootScript(script string) (talosBoot, error) {
	var kernel, initrd *talosBoot
	for _, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "chain":
			// chain <uri> loads and runs another script.
			if len(f) < 2 {
				return talosBoot{}, errors.New("chain without a target")
			}
			return s.bootTarget(f[1])
		case "kernel":
			b, err := s.scriptImage(f, "kernel-amd64")
			if err != nil {
				return talosBoot{}, err
			}
			b.Args = f[2:]
			kernel = &b
		case "initrd":
			b, err := s.scriptImage(f, "initramfs-amd64.xz")
			if err != nil {
				return talosBoot{}, err
			}
			initrd = &b
		case "boot":
			switch {
			case kernel == nil:
				return talosBoot{}, errors.New("the script boots without a kernel")
			case initrd == nil:
				return talosBoot{}, errors.New("the script boots a kernel without the Talos initramfs")
			case initrd.Schematic != kernel.Schematic || initrd.Version != kernel.Version:
				return talosBoot{}, errors.New("the script's kernel and initramfs are of different schematics or versions")
			}
			return *kernel, s.knownSchematic(*kernel)
		}
	}
	return talosBoot{}, errors.New("the script never runs boot")
}

// scriptImage is the image of a script's kernel or initrd line (the
// command, the image's URL, then any kernel arguments).
func (s *Sim) scriptImage(line []string, file string) (talosBoot, error) {
	if len(line) < 2 {
		return talosBoot{}, fmt.Errorf("%s without an image", line[0])
	}
	return s.factoryImage(line[1], file)
}

// factoryImage reads <factory>/image/<schematic>/<version>/<file>, the
// factory's image URLs (talos.Images).
func (s *Sim) factoryImage(uri, file string) (talosBoot, error) {
	rest, ok := strings.CutPrefix(uri, s.factorySrv.URL+"/image/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[2] != file {
		return talosBoot{}, fmt.Errorf("%s is not the Image Factory's %s", uri, file)
	}
	return talosBoot{Schematic: parts[0], Version: parts[1]}, nil
}

// knownSchematic: the factory serves images only for schematics it holds.
func (s *Sim) knownSchematic(b talosBoot) error {
	if _, ok := s.factory.Schematic(b.Schematic); !ok {
		return fmt.Errorf("the Image Factory holds no schematic %s", b.Schematic)
	}
	if b.Version == "" {
		return errors.New("no Talos version")
	}
	return nil
}

// nodeAddress says whether a booted Talos has the server's address ip and
// a way out, so it answers on ip, and returns the address ip= gives it
// ("" for none). With DHCP it gets its address whatever the command line
// says: Talos ignores an ip= it cannot parse ("ignoring cmdline parse
// failure", AddressConfigController) and runs DHCP on its links in
// maintenance mode (talos.md). Without DHCP only ip= gives it one.
func nodeAddress(args []string, ip string, dhcp bool) (string, error) {
	cmdline, err := cmdlineAddress(args, ip)
	if dhcp {
		return cmdline, nil
	}
	return cmdline, err
}

// cmdlineAddress is the address/prefix the first ip= gives, and why it
// does not make the node reachable on ip when it does not.
func cmdlineAddress(args []string, ip string) (string, error) {
	var arg string
	found := false
	// Talos reads every ip=; the first is the one that can give the
	// public link its address.
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "ip="); ok {
			arg, found = v, true
			break
		}
	}
	if !found {
		return "", errors.New("no DHCP and no ip= kernel argument (talos.md: providers without DHCP need ip=)")
	}
	got, err := parseIPArg(arg)
	if err != nil {
		return "", fmt.Errorf("no DHCP and ip=%s: %v", arg, err)
	}
	want, err := netip.ParseAddr(ip)
	if err != nil {
		return got.Address.String(), fmt.Errorf("server address %q: %v", ip, err)
	}
	switch {
	case got.Address.Addr() != want:
		return got.Address.String(), fmt.Errorf("no DHCP and ip= gives %s, not the server's address %s", got.Address.Addr(), ip)
	case !got.Gateway.IsValid():
		return got.Address.String(), fmt.Errorf("no DHCP and ip=%s names no gateway: nothing beyond the link reaches it", arg)
	case !got.Address.Contains(got.Gateway):
		// Linux adds a route through a gateway only when the gateway is
		// on a link the host has an address on ("Nexthop has invalid
		// gateway").
		return got.Address.String(), fmt.Errorf("no DHCP and ip=%s: the gateway %s is outside %s", arg, got.Gateway, got.Address.Masked())
	}
	return got.Address.String(), nil
}

// ipArg is what Talos takes from ip=.
type ipArg struct {
	Address netip.Prefix
	Gateway netip.Addr
}

// parseIPArg parses ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:... as
// Talos does (ParseCmdlineNetwork in its network controllers, after the
// kernel's nfsroot.txt format): empty fields are skipped, the client IP,
// gateway and DNS fields must parse as addresses, the netmask as a prefix
// length or a dotted mask. An unfilled ${ip} or {{ PUBLIC_IP }} fails.
func parseIPArg(v string) (ipArg, error) {
	var out ipArg
	for i, f := range strings.Split(v, ":") {
		if f == "" {
			continue
		}
		switch i {
		case 0:
			a, err := netip.ParseAddr(f)
			if err != nil {
				return out, fmt.Errorf("cmdline address parse failure: %v", err)
			}
			out.Address = netip.PrefixFrom(a, a.BitLen())
		case 2:
			g, err := netip.ParseAddr(f)
			if err != nil {
				return out, fmt.Errorf("cmdline gateway parse failure: %v", err)
			}
			out.Gateway = g
		case 3:
			ones, err := strconv.Atoi(f)
			if err != nil {
				m, err := netip.ParseAddr(f)
				if err != nil {
					return out, fmt.Errorf("cmdline netmask parse failure: %v", err)
				}
				ones, _ = net.IPMask(m.AsSlice()).Size()
			}
			out.Address = netip.PrefixFrom(out.Address.Addr(), ones)
		case 7, 8, 9:
			if _, err := netip.ParseAddr(f); err != nil {
				return out, fmt.Errorf("error parsing DNS or NTP IP: %v", err)
			}
		}
	}
	if !out.Address.IsValid() {
		return out, errors.New("no client address")
	}
	return out, nil
}
