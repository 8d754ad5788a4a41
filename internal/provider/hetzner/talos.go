package hetzner

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
)

// Labels of the Talos snapshots cto builds. A label value holds at most 63
// characters, so the schematic label keeps the ID's first 32 hex digits and
// the description the whole of it.
const (
	LabelTalosVersion   = "cto.talos-version"
	LabelTalosSchematic = "cto.talos-schematic"
	// LabelImage marks every image cto made, so they can be listed and
	// deleted (DeleteTalosSnapshots).
	LabelImage = "cto.image"
)

func schematicLabel(id string) string {
	if len(id) > 32 {
		return id[:32]
	}
	return id
}

// MediaRequest says which Talos the cluster's servers boot.
type MediaRequest struct {
	// Image is the Talos build (schematic and version) at the Image Factory.
	Image rescue.Image
	// Cluster labels a snapshot builder, so `cto destroy` sweeps one an
	// interrupted build left behind.
	Cluster string
	// Region and BuilderPlan are where and on what a snapshot is built.
	// An empty BuilderPlan picks the cheapest x86 type in stock there: a
	// snapshot fits every type with at least the builder's disk.
	Region      string
	BuilderPlan string
}

// Media is a decision between the public ISO and a snapshot.
type Media struct {
	// ISO is the public ISO to boot, when Hetzner has one for the version.
	ISO string
	// SnapshotID is the snapshot to create servers from.
	SnapshotID int64
	// Build is true when neither exists and a snapshot must be built.
	Build bool
}

// Boot is the provider.Boot for CreateServer.
func (m Media) Boot() provider.Boot {
	if m.ISO != "" {
		return provider.Boot{Method: provider.BootISO, URL: m.ISO}
	}
	return provider.Boot{Method: provider.BootImage, URL: strconv.FormatInt(m.SnapshotID, 10)}
}

// ChooseMedia decides how a server boots Talos version with schematic: the
// public ISO of exactly that version (x86) wins, because it costs nothing
// to keep and the install image carries the schematic anyway; else an
// available snapshot of that version and schematic; else a snapshot must be
// built.
func ChooseMedia(isos []*hcloud.ISO, snapshots []*hcloud.Image, version, schematic string) Media {
	for _, iso := range isos {
		if isTalosISO(iso, version) {
			return Media{ISO: iso.Name}
		}
	}
	for _, img := range snapshots {
		if img.Status == hcloud.ImageStatusAvailable && img.Labels[LabelTalosVersion] == version && img.Labels[LabelTalosSchematic] == schematicLabel(schematic) {
			return Media{SnapshotID: img.ID}
		}
	}
	return Media{Build: true}
}

var versionToken = regexp.MustCompile(`v\d+\.\d+\.\d+(-(alpha|beta|rc)\.\d+)?`)

// isTalosISO matches Hetzner's public Talos ISOs by name (talos-v1.13.9-amd64.iso
// and the like): it must say talos, carry exactly version, and be x86.
func isTalosISO(iso *hcloud.ISO, version string) bool {
	name := strings.ToLower(iso.Name)
	if !strings.Contains(name, "talos") {
		return false
	}
	if iso.Architecture != nil && *iso.Architecture != hcloud.ArchitectureX86 {
		return false
	}
	if strings.Contains(name, "arm64") || strings.Contains(name, "aarch64") {
		return false
	}
	for _, v := range versionToken.FindAllString(name, -1) {
		if v == version {
			return true
		}
	}
	return false
}

// talosISO finds the public Talos ISO of version, or nil.
func (p *Provider) talosISO(ctx context.Context, version string) (*hcloud.ISO, error) {
	isos, err := p.api.ISO.AllWithOpts(ctx, hcloud.ISOListOpts{})
	if err != nil {
		return nil, apiError("list ISOs", err)
	}
	m := ChooseMedia(isos, nil, version, "")
	if m.ISO == "" {
		return nil, nil
	}
	return &hcloud.ISO{Name: m.ISO}, nil
}

// TalosMedia returns how the cluster's servers boot Talos: the public ISO
// when its version matches, else the snapshot built before for this
// version and schematic, else it builds that snapshot now (BuildSnapshot,
// a few minutes, once per version and schematic). Pass the result to
// CreateServer as ServerSpec.Boot.
func (p *Provider) TalosMedia(ctx context.Context, req MediaRequest) (provider.Boot, error) {
	if req.Image.Version == "" || req.Image.Schematic == "" {
		return provider.Boot{}, fmt.Errorf("Talos media: version and schematic are required: %w", provider.ErrInvalid)
	}
	isos, err := p.api.ISO.AllWithOpts(ctx, hcloud.ISOListOpts{})
	if err != nil {
		return provider.Boot{}, apiError("list ISOs", err)
	}
	snaps, err := p.talosSnapshots(ctx)
	if err != nil {
		return provider.Boot{}, err
	}
	m := ChooseMedia(isos, snaps, req.Image.Version, req.Image.Schematic)
	if m.Build {
		id, err := p.BuildSnapshot(ctx, req)
		if err != nil {
			return provider.Boot{}, err
		}
		m = Media{SnapshotID: id}
	}
	return m.Boot(), nil
}

func (p *Provider) talosSnapshots(ctx context.Context) ([]*hcloud.Image, error) {
	imgs, err := p.api.Image.AllWithOpts(ctx, hcloud.ImageListOpts{
		ListOpts: hcloud.ListOpts{LabelSelector: LabelImage + "==talos"},
		Type:     []hcloud.ImageType{hcloud.ImageTypeSnapshot},
	})
	if err != nil {
		return nil, apiError("list Talos snapshots", err)
	}
	return imgs, nil
}

// BuilderName is the temporary server a snapshot is built on.
func BuilderName(img rescue.Image) string {
	return "cto-talos-" + strings.NewReplacer(".", "-").Replace(img.Version) + "-" + schematicLabel(img.Schematic)[:8]
}

// BuildSnapshot builds the Talos snapshot of one version and schematic: a
// temporary server (labelled with the cluster, so a destroy sweeps it if
// the build is interrupted) boots the rescue system, the Image Factory's
// hcloud-amd64 image is written to its disk, the server is stopped and
// snapshotted with labels that find the snapshot again, and the server is
// deleted. It returns the snapshot's ID.
func (p *Provider) BuildSnapshot(ctx context.Context, req MediaRequest) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Another build may have finished while this one waited for the lock.
	if snaps, err := p.talosSnapshots(ctx); err == nil {
		if m := ChooseMedia(nil, snaps, req.Image.Version, req.Image.Schematic); !m.Build {
			return m.SnapshotID, nil
		}
	}
	if req.Region == "" {
		return 0, fmt.Errorf("build a Talos snapshot: a region for the builder is required: %w", provider.ErrInvalid)
	}
	if req.BuilderPlan == "" {
		plan, err := p.cheapestPlan(ctx, req.Region)
		if err != nil {
			return 0, err
		}
		req.BuilderPlan = plan
	}
	name := BuilderName(req.Image)
	off := false
	res, _, err := p.api.Server.Create(ctx, hcloud.ServerCreateOpts{
		Name: name, ServerType: &hcloud.ServerType{Name: req.BuilderPlan}, Image: &hcloud.Image{Name: isoBaseImage},
		Location: &hcloud.Location{Name: strings.ToLower(req.Region)}, StartAfterCreate: &off,
		Labels: map[string]string{LabelCluster: req.Cluster, LabelRole: "image-builder"},
	})
	if err != nil {
		return 0, apiError("create the Talos snapshot builder "+name, err)
	}
	builder := res.Server
	// The builder goes whatever happens; its deletion must outlive a
	// cancelled ctx.
	defer func() {
		_, _, _ = p.api.Server.DeleteWithResult(context.WithoutCancel(ctx), builder)
	}()
	if err := p.api.Action.WaitFor(ctx, append([]*hcloud.Action{res.Action}, res.NextActions...)...); err != nil {
		return 0, apiError("create the snapshot builder", err)
	}
	rescueRes, _, err := p.api.Server.EnableRescue(ctx, builder, hcloud.ServerEnableRescueOpts{Type: hcloud.ServerRescueTypeLinux64})
	if err != nil {
		return 0, apiError("enable the builder's rescue system", err)
	}
	if err := p.api.Action.WaitFor(ctx, rescueRes.Action); err != nil {
		return 0, apiError("enable the builder's rescue system", err)
	}
	on, _, err := p.api.Server.Poweron(ctx, builder)
	if err != nil {
		return 0, apiError("power on the builder", err)
	}
	if err := p.api.Action.WaitFor(ctx, on); err != nil {
		return 0, apiError("power on the builder", err)
	}
	ip := builder.PublicNet.IPv4.IP.String()
	sess, err := rescue.Dial(ctx, p.clock, p.cfg.DialRescue(ip), rescue.Auth{Password: rescueRes.RootPassword})
	if err != nil {
		return 0, err
	}
	// Cloud servers have one disk; ask anyway rather than assume sda.
	disks, err := sess.Disks(ctx)
	if err == nil {
		var disk rescue.Disk
		if disk, err = rescue.ChooseInstallDisk(disks); err == nil {
			err = sess.WriteImage(ctx, req.Image.URL(rescue.HcloudImage), disk.Name)
		}
	}
	sess.Close()
	if err != nil {
		return 0, fmt.Errorf("write Talos %s onto the snapshot builder: %w", req.Image.Version, err)
	}
	stop, _, err := p.api.Server.Poweroff(ctx, builder)
	if err != nil {
		return 0, apiError("stop the builder", err)
	}
	if err := p.api.Action.WaitFor(ctx, stop); err != nil {
		return 0, apiError("stop the builder", err)
	}
	desc := fmt.Sprintf("Talos %s, schematic %s", req.Image.Version, req.Image.Schematic)
	snap, _, err := p.api.Server.CreateImage(ctx, builder, &hcloud.ServerCreateImageOpts{
		Type: hcloud.ImageTypeSnapshot, Description: &desc,
		// The cluster that built it deletes it when it goes (a snapshot
		// bills per GB); other clusters' servers made from it keep
		// running, and a later one builds it again.
		Labels: map[string]string{LabelImage: "talos", LabelTalosVersion: req.Image.Version, LabelTalosSchematic: schematicLabel(req.Image.Schematic),
			LabelCluster: req.Cluster},
	})
	if err != nil {
		return 0, apiError("snapshot the builder", err)
	}
	if err := p.api.Action.WaitFor(ctx, snap.Action); err != nil {
		return 0, apiError("snapshot the builder", err)
	}
	return snap.Image.ID, nil
}

// DetachISO takes the Talos ISO out of a server's drive once Talos is
// installed on its disk, so a reboot starts the installed system. The
// talos step calls it after applying a node's config.
func (p *Provider) DetachISO(ctx context.Context, serverID string) error {
	id, err := parseID("server", serverID)
	if err != nil {
		return err
	}
	a, _, err := p.api.Server.DetachISO(ctx, &hcloud.Server{ID: id})
	if err != nil {
		return apiError("detach the ISO of server "+serverID, err)
	}
	return apiError("detach the ISO of server "+serverID, p.api.Action.WaitFor(ctx, a))
}

// deleteClusterSnapshots deletes the Talos snapshots cluster built.
func (p *Provider) deleteClusterSnapshots(ctx context.Context, cluster string) error {
	imgs, err := p.api.Image.AllWithOpts(ctx, hcloud.ImageListOpts{
		ListOpts: hcloud.ListOpts{LabelSelector: LabelImage + "==talos," + clusterSelector(cluster)},
		Type:     []hcloud.ImageType{hcloud.ImageTypeSnapshot},
	})
	if err != nil {
		return apiError("list Talos snapshots of "+cluster, err)
	}
	for _, img := range imgs {
		if _, err := p.api.Image.Delete(ctx, img); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			return apiError(fmt.Sprintf("delete snapshot %d", img.ID), err)
		}
	}
	return nil
}

// DeleteTalosSnapshots deletes every Talos snapshot cto built (they cost a
// little per GB and month); the next deploy that needs one builds it again.
func (p *Provider) DeleteTalosSnapshots(ctx context.Context) (int, error) {
	snaps, err := p.talosSnapshots(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, img := range snaps {
		if _, err := p.api.Image.Delete(ctx, img); err != nil && !hcloud.IsError(err, hcloud.ErrorCodeNotFound) {
			return n, apiError(fmt.Sprintf("delete snapshot %d", img.ID), err)
		}
		n++
	}
	return n, nil
}

// cheapestPlan is the lowest-priced Talos-capable type in stock at region.
func (p *Provider) cheapestPlan(ctx context.Context, region string) (string, error) {
	plans, err := p.ListPlans(ctx, provider.PlanFilter{Region: region, InStock: true, TalosReady: true})
	if err != nil {
		return "", err
	}
	best, price := "", 0.0
	for _, plan := range plans {
		at, _ := plan.At(region)
		if best == "" || at.Hourly < price {
			best, price = plan.Slug, at.Hourly
		}
	}
	if best == "" {
		return "", fmt.Errorf("no server type in stock at %s to build the Talos snapshot on: %w", region, provider.ErrOutOfStock)
	}
	return best, nil
}
