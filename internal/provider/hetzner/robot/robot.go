package robot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/cto-platform/cto/internal/clock"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/provider/hetzner/rescue"
)

// Name is the provider's flag value.
const Name = "hetzner-robot"

// Config is what New needs.
type Config struct {
	User, Password string
	// Endpoint overrides the Robot URL (HETZNER_ROBOT_URL, --api-url).
	Endpoint   string
	HTTPClient *http.Client
	Clock      clock.Clock

	// Servers are the numbers of rented servers to adopt, in order.
	Servers []string
	// Order allows buying servers once Servers are used up; every order
	// first passes ConfirmOrder with its price.
	Order        bool
	ConfirmOrder func(question string) error

	// SSHKey logs into the rescue system; its public half must be a key
	// in the Robot account (Robot activates rescue systems by the key's
	// fingerprint).
	SSHKey ssh.Signer
	// InstallDisk forces the disk Talos goes on (e.g. nvme0n1); empty
	// chooses from the disks the rescue system reports.
	InstallDisk string
	// DialRescue maps a server's IP to its rescue SSH address (default
	// ip:22).
	DialRescue func(ip string) string
}

// Provider is one Robot account.
type Provider struct {
	api *Client
	cfg Config

	// mu serialises adoption, so two concurrent creates never take the
	// same server.
	mu sync.Mutex
	// uninstalled are the servers CreateServer adopted for FinishServer.
	uninstalled provider.Unfinished[install]
}

// What this provider implements, checked by the compiler.
var (
	_ provider.Provider       = (*Provider)(nil)
	_ provider.Adopter        = (*Provider)(nil)
	_ provider.Releaser       = (*Provider)(nil)
	_ provider.OrderConfirmer = (*Provider)(nil)
	_ provider.Finisher       = (*Provider)(nil)
)

// ConfigFromEnv reads a provider's configuration from HETZNER_ROBOT_USER,
// HETZNER_ROBOT_PASSWORD, HETZNER_ROBOT_URL (apiURL wins), the SSH key at
// HETZNER_ROBOT_SSH_KEY (default ~/.ssh/id_ed25519; only needed to install
// Talos) and HETZNER_ROBOT_SSH_PORT, the rescue systems' SSH port (default
// 22; a simulated datacenter serves them elsewhere).
func ConfigFromEnv(apiURL string, servers []string, order bool) (Config, error) {
	user, pass := os.Getenv("HETZNER_ROBOT_USER"), os.Getenv("HETZNER_ROBOT_PASSWORD")
	if user == "" || pass == "" {
		return Config{}, errors.New("HETZNER_ROBOT_USER and HETZNER_ROBOT_PASSWORD must be set: create a web-service user in Robot (Settings > Web service settings) and export both")
	}
	endpoint := apiURL
	if endpoint == "" {
		endpoint = os.Getenv("HETZNER_ROBOT_URL")
	}
	dial, err := rescue.AddrFromEnv("HETZNER_ROBOT_SSH_PORT")
	if err != nil {
		return Config{}, err
	}
	cfg := Config{User: user, Password: pass, Endpoint: endpoint, Servers: servers, Order: order, DialRescue: dial}
	keyPath := os.Getenv("HETZNER_ROBOT_SSH_KEY")
	if keyPath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			keyPath = filepath.Join(home, ".ssh", "id_ed25519")
		}
	}
	if data, err := os.ReadFile(keyPath); err == nil {
		signer, err := ssh.ParsePrivateKey(data)
		if err != nil {
			return Config{}, fmt.Errorf("HETZNER_ROBOT_SSH_KEY %s: %v (cto needs an unencrypted key to log into the rescue system)", keyPath, err)
		}
		cfg.SSHKey = signer
	}
	return cfg, nil
}

// New returns a provider for cfg.
func New(cfg Config) *Provider {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.DialRescue == nil {
		cfg.DialRescue = rescue.DefaultAddr
	}
	return &Provider{api: NewClient(cfg.Endpoint, cfg.User, cfg.Password, cfg.HTTPClient, cfg.Clock), cfg: cfg}
}

func (p *Provider) Name() string { return Name }

func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{
		PrivateNetworks: true,
		DHCP:            true,
		Currency:        "EUR",
		// A vSwitch is a VLAN on the public NIC with MTU 1400 (Hetzner's
		// vSwitch documentation).
		PrivateMTU: 1400,
		// A vSwitch is one layer-2 segment across its servers (Hetzner's
		// vSwitch documentation).
		PrivateLayer2: true,
	}
}

// ConfirmOrdersWith sets the confirmation every order must pass
// (provider.OrderConfirmer).
func (p *Provider) ConfirmOrdersWith(confirm func(question string) error) {
	p.mu.Lock()
	p.cfg.ConfirmOrder = confirm
	p.mu.Unlock()
}

// ReleaseNote is what `cto destroy` tells the user about released servers.
func (p *Provider) ReleaseNote() string {
	return "the dedicated servers were reset to the rescue system and taken off the cluster's vSwitch; they are still rented: cancel them in Robot if you no longer need them"
}

// Authenticate lists the servers once; a 401 stops the client for good.
func (p *Provider) Authenticate(ctx context.Context) error {
	_, err := p.api.Servers(ctx)
	return err
}

// Fingerprint is the MD5 fingerprint Robot identifies a key by.
func Fingerprint(key ssh.PublicKey) string { return ssh.FingerprintLegacyMD5(key) }

func (p *Provider) fingerprint() string {
	if p.cfg.SSHKey == nil {
		return ""
	}
	return Fingerprint(p.cfg.SSHKey.PublicKey())
}

// Tags live in the server name: cto:<cluster>:<role>:<hostname>, with
// :installing appended while Talos is being written and :failed when that
// failed.
const tagPrefix = "cto:"

// Install states a tag carries.
const (
	stateInstalling = "installing"
	stateFailed     = "failed"
)

type tag struct {
	Cluster, Role, Hostname string
	// State is "", stateInstalling or stateFailed.
	State string
}

func (t tag) String() string {
	s := tagPrefix + t.Cluster + ":" + t.Role + ":" + t.Hostname
	if t.State != "" {
		s += ":" + t.State
	}
	return s
}

func parseTag(name string) (tag, bool) {
	if !strings.HasPrefix(name, tagPrefix) {
		return tag{}, false
	}
	parts := strings.Split(name[len(tagPrefix):], ":")
	if len(parts) < 3 || len(parts) > 4 || parts[0] == "" || parts[2] == "" {
		return tag{}, false
	}
	t := tag{Cluster: parts[0], Role: parts[1], Hostname: parts[2]}
	if len(parts) == 4 {
		t.State = parts[3]
	}
	return t, true
}

func serverOf(s Server) provider.Server {
	t, _ := parseTag(s.Name)
	out := provider.Server{
		ID: strconv.Itoa(s.Number), Hostname: t.Hostname, RawStatus: s.Status, PublicIPv4: s.IP,
		Plan: s.Product, Region: dcLocation(s.DC),
	}
	if t.Cluster != "" {
		out.Tags = []string{"cto.cluster=" + t.Cluster, "cto.role=" + t.Role}
	}
	switch {
	case t.State == stateFailed:
		out.Status, out.RawStatus = provider.StatusFailed, s.Status+" (Talos install failed)"
	case t.State == stateInstalling:
		out.Status, out.RawStatus = provider.StatusPending, "installing Talos"
	case s.Status == "ready":
		out.Status = provider.StatusReady
	default:
		out.Status = provider.StatusPending
	}
	return out
}

// dcLocation turns a data center (FSN1-DC14) into its location (FSN1).
func dcLocation(dc string) string {
	loc, _, _ := strings.Cut(dc, "-")
	return strings.ToUpper(loc)
}

// toDelete parses id and gets what it names, for a delete: found is false,
// without error, when there is nothing to delete because the ID is malformed
// or Robot no longer knows it (both ErrNotFound).
func toDelete[T any](ctx context.Context, id string, parse func(string) (int, error), get func(context.Context, int) (T, error)) (n int, v T, found bool, err error) {
	n, err = parse(id)
	if err == nil {
		v, err = get(ctx, n)
	}
	if errors.Is(err, provider.ErrNotFound) {
		return n, v, false, nil
	}
	return n, v, err == nil, err
}

func parseNumber(id string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(id))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("server %q: %w", id, provider.ErrNotFound)
	}
	return n, nil
}

// ListServers returns the servers adopted into cluster, in one request.
func (p *Provider) ListServers(ctx context.Context, cluster string) ([]provider.Server, error) {
	all, err := p.api.Servers(ctx)
	if err != nil {
		return nil, err
	}
	var out []provider.Server
	seen := map[int]bool{}
	for _, s := range all {
		if t, ok := parseTag(s.Name); ok && t.Cluster == cluster {
			out = append(out, serverOf(s))
			seen[s.Number] = true
		}
	}
	if !p.cfg.Order {
		return out, nil
	}
	// Orders carry the tag in their comment: pending ones are listed under
	// their order ID, delivered ones are tagged and listed as servers.
	for _, auction := range []bool{false, true} {
		txs, err := p.api.Transactions(ctx, auction)
		if err != nil {
			return nil, err
		}
		for _, tx := range txs {
			if tx.Comment == nil {
				continue
			}
			if t, ok := parseTag(*tx.Comment); !ok || t.Cluster != cluster || tx.Status == "cancelled" {
				continue
			}
			if tx.ServerNumber != nil && seen[*tx.ServerNumber] {
				continue
			}
			id := orderPrefix + tx.ID
			if auction {
				id = orderPrefix + "auction-" + tx.ID
			}
			s, err := p.orderedServer(ctx, id)
			if errors.Is(err, provider.ErrNotFound) {
				continue // delivered, then released
			}
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// GetServer returns an adopted server. A server no cto cluster holds (never
// adopted, or released) is ErrNotFound: to cto it is not there.
func (p *Provider) GetServer(ctx context.Context, id string) (provider.Server, error) {
	if strings.HasPrefix(id, orderPrefix) {
		return p.orderedServer(ctx, id)
	}
	n, err := parseNumber(id)
	if err != nil {
		return provider.Server{}, err
	}
	s, err := p.api.Server(ctx, n)
	if err != nil {
		return provider.Server{}, err
	}
	if _, ok := parseTag(s.Name); !ok {
		return provider.Server{}, fmt.Errorf("server %d is not part of a cto cluster: %w", n, provider.ErrNotFound)
	}
	return serverOf(s), nil
}

// Adoptable counts the spec's servers that CreateServer could still take
// for cluster (those it already holds included), so validation can refuse
// a deploy that would run out.
func (p *Provider) Adoptable(ctx context.Context, cluster, plan, region string) (int, error) {
	named, err := p.namedServers(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range named {
		if t, ok := parseTag(s.Name); ok {
			if t.Cluster == cluster && t.State != stateFailed {
				n++
			}
			continue
		}
		if adoptable(s, plan, region) == "" {
			n++
		}
	}
	return n, nil
}

// namedServers returns the servers of Config.Servers that the account has,
// in the order given, with one request (Robot limits GET /server/<n> to
// 200 an hour; one list serves every candidate).
func (p *Provider) namedServers(ctx context.Context) ([]Server, error) {
	all, err := p.api.Servers(ctx)
	if err != nil {
		return nil, err
	}
	return p.pick(all)
}

// pick returns the servers of Config.Servers among all, in the order given.
func (p *Provider) pick(all []Server) ([]Server, error) {
	byNumber := map[int]Server{}
	for _, s := range all {
		byNumber[s.Number] = s
	}
	var out []Server
	for _, id := range p.cfg.Servers {
		num, err := parseNumber(id)
		if err != nil {
			return nil, fmt.Errorf("--servers %q is not a server number: %w", id, provider.ErrInvalid)
		}
		if s, ok := byNumber[num]; ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// adoptable says why a server cannot be adopted, or "" when it can.
func adoptable(s Server, plan, region string) string {
	switch {
	case s.Cancelled:
		return "is cancelled"
	case s.Status != "ready":
		return "is " + s.Status
	case plan != "" && !strings.EqualFold(s.Product, plan):
		return "is a " + s.Product + ", not a " + plan
	case region != "" && !strings.EqualFold(dcLocation(s.DC), region):
		return "is in " + s.DC + ", not " + strings.ToUpper(region)
	}
	return ""
}

// CreateServer adopts the next of Config.Servers that fits the spec (ready,
// not cancelled, of the plan, in the region, in no cluster) by naming it
// with the cluster's tag; when none is left it orders one, only if
// Config.Order allows it and ConfirmOrder approves the price. When the spec
// asks for Talos (BootRescue with a raw image URL, or a factory iPXE URL),
// FinishServer installs it.
func (p *Provider) CreateServer(ctx context.Context, s provider.ServerSpec) (provider.Server, error) {
	if s.Cluster == "" || s.Hostname == "" || strings.Contains(s.Cluster+s.Hostname, ":") {
		return provider.Server{}, fmt.Errorf("create server: a cluster and hostname without ':' are required: %w", provider.ErrInvalid)
	}
	imageURL, err := p.imageFor(s.Boot)
	if err != nil {
		return provider.Server{}, err
	}
	if imageURL != "" && p.cfg.SSHKey == nil {
		return provider.Server{}, fmt.Errorf("installing Talos on a dedicated server needs an SSH key registered in Robot: set HETZNER_ROBOT_SSH_KEY to its private key file: %w", provider.ErrInvalid)
	}
	t := tag{Cluster: s.Cluster, Role: string(s.Role), Hostname: s.Hostname}
	if imageURL != "" {
		t.State = stateInstalling
	}
	srv, err := p.adoptNext(ctx, s, t)
	if err != nil {
		return provider.Server{}, err
	}
	if srv == nil {
		if !p.cfg.Order {
			return provider.Server{}, fmt.Errorf("no server left to adopt for %s among --servers %s (each must be ready, not cancelled, a %s in %s and in no other cluster); add server numbers, or pass --order to buy one: %w",
				s.Hostname, strings.Join(p.cfg.Servers, ","), s.Plan, s.Region, provider.ErrOutOfStock)
		}
		return p.order(ctx, s, t)
	}
	out := serverOf(*srv)
	if held, _ := parseTag(srv.Name); imageURL != "" && held.State == stateInstalling {
		// Installed by an earlier run otherwise: writing the disk again
		// would wipe a node that may hold its config.
		p.uninstalled.Put(out.ID, install{number: srv.Number, imageURL: imageURL, tag: t})
	}
	return out, nil
}

// install is a server CreateServer adopted for FinishServer to write
// Talos onto.
type install struct {
	number   int
	imageURL string
	tag      tag
}

// FinishServer installs Talos on a server CreateServer adopted, through
// the rescue system (InstallTalos). An install that fails marks the server
// failed and returns it with StatusFailed; the server is never cancelled.
// A server with nothing to install is returned as it is.
func (p *Provider) FinishServer(ctx context.Context, s provider.ServerSpec, created provider.Server) (provider.Server, error) {
	in, ok := p.uninstalled.Take(created.ID)
	if !ok {
		return created, nil
	}
	out, t := created, in.tag
	if _, err := p.InstallTalos(ctx, in.number, in.imageURL); err != nil {
		if ctx.Err() != nil {
			return out, err
		}
		t.State = stateFailed
		failed, rerr := p.api.RenameServer(ctx, in.number, t.String())
		if rerr != nil {
			return out, fmt.Errorf("install Talos on server %d: %w (and marking it failed: %v)", in.number, err, rerr)
		}
		out = serverOf(failed)
		out.RawStatus = "Talos install failed: " + err.Error()
		return out, nil
	}
	t.State = ""
	done, err := p.api.RenameServer(ctx, in.number, t.String())
	if err != nil {
		return out, fmt.Errorf("Talos is on server %d, but marking it installed failed: %w", in.number, err)
	}
	return serverOf(done), nil
}

// imageFor is the raw image a boot asks for, or "" for none.
func (p *Provider) imageFor(b provider.Boot) (string, error) {
	switch b.Method {
	case "", provider.BootNone:
		return "", nil
	case provider.BootRescue:
		if b.URL == "" {
			return "", fmt.Errorf("a rescue boot needs the raw image URL: %w", provider.ErrInvalid)
		}
		return b.URL, nil
	case provider.BootIPXE:
		// No iPXE on dedicated servers: the rescue system writes the raw
		// image of the Talos build the boot names.
		if t := b.Talos; t.Schematic != "" && t.Version != "" {
			return rescue.Image{Factory: t.Factory, Schematic: t.Schematic, Version: t.Version}.URL(rescue.MetalImage), nil
		}
	}
	return "", fmt.Errorf("dedicated servers install Talos from the rescue system; cannot boot %s %q: %w", b.Method, b.URL, provider.ErrInvalid)
}

// adoptNext tags the next adoptable server, or returns nil when none is
// left. A server already tagged with this very hostname (adopted before, or
// ordered and delivered) is returned as is, so a resumed deploy does not
// take a second one and a delivered order gets its Talos install.
func (p *Provider) adoptNext(ctx context.Context, s provider.ServerSpec, t tag) (*Server, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	all, err := p.api.Servers(ctx)
	if err != nil {
		return nil, err
	}
	// The server this hostname already holds, adopted or ordered and
	// delivered, whatever --servers says now.
	for _, srv := range all {
		if held, ok := parseTag(srv.Name); ok && held.Cluster == t.Cluster && held.Hostname == t.Hostname && held.State != stateFailed {
			return &srv, nil
		}
	}
	named, err := p.pick(all)
	if err != nil {
		return nil, err
	}
	var candidates []Server
	for _, srv := range named {
		if _, held := parseTag(srv.Name); held {
			continue
		}
		if adoptable(srv, s.Plan, s.Region) == "" {
			candidates = append(candidates, srv)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	renamed, err := p.api.RenameServer(ctx, candidates[0].Number, t.String())
	if err != nil {
		return nil, fmt.Errorf("adopt server %d: %w", candidates[0].Number, err)
	}
	return &renamed, nil
}

// ReleasedName is the name a released server keeps, so it is never taken
// for a fresh delivery of an order and tagged again.
const ReleasedName = "cto-released"

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// orderPrefix marks the ID of a server that is ordered but not delivered.
const orderPrefix = "order-"

// order buys a server: a numeric plan is a server-auction offer, anything
// else a standard product at the spec's location. The price is confirmed
// first; the order's transaction is the server's ID until delivery.
func (p *Provider) order(ctx context.Context, s provider.ServerSpec, t tag) (provider.Server, error) {
	if p.cfg.ConfirmOrder == nil {
		return provider.Server{}, fmt.Errorf("ordering a dedicated server needs a confirmation of its cost: %w", provider.ErrInvalid)
	}
	if auctionID, err := strconv.Atoi(s.Plan); err == nil {
		if err := p.cfg.ConfirmOrder(fmt.Sprintf("Buy server %d from the Hetzner server auction for %s (billed monthly until you cancel it in Robot)", auctionID, s.Hostname)); err != nil {
			return provider.Server{}, err
		}
		tx, err := p.api.OrderAuction(ctx, auctionID, p.fingerprint(), t.String())
		if err != nil {
			return provider.Server{}, fmt.Errorf("order auction server %d: %w", auctionID, err)
		}
		return p.ordered(s, tx, true), nil
	}
	products, err := p.api.Products(ctx)
	if err != nil {
		return provider.Server{}, err
	}
	var product *Product
	for i := range products {
		if strings.EqualFold(products[i].ID, s.Plan) {
			product = &products[i]
		}
	}
	if product == nil {
		return provider.Server{}, fmt.Errorf("product %q: %w (list them with `cto plans --provider hetzner-robot`)", s.Plan, provider.ErrNotFound)
	}
	loc := strings.ToUpper(s.Region)
	var price *ProductPrice
	for i := range product.Prices {
		if strings.EqualFold(product.Prices[i].Location, loc) {
			price = &product.Prices[i]
		}
	}
	if price == nil || !containsFold(product.Location, loc) {
		return provider.Server{}, fmt.Errorf("product %s at %s: %w", product.ID, loc, provider.ErrOutOfStock)
	}
	q := fmt.Sprintf("Order a %s at %s for %s: %s EUR a month plus %s EUR setup, net (billed monthly until you cancel it in Robot)",
		product.ID, loc, s.Hostname, price.Price.Net, price.PriceSetup.Net)
	if err := p.cfg.ConfirmOrder(q); err != nil {
		return provider.Server{}, err
	}
	tx, err := p.api.OrderProduct(ctx, product.ID, loc, p.fingerprint(), t.String())
	if err != nil {
		return provider.Server{}, fmt.Errorf("order a %s at %s: %w", product.ID, loc, err)
	}
	return p.ordered(s, tx, false), nil
}

func (p *Provider) ordered(s provider.ServerSpec, tx Transaction, auction bool) provider.Server {
	id := orderPrefix + tx.ID
	if auction {
		id = orderPrefix + "auction-" + tx.ID
	}
	return provider.Server{ID: id, Hostname: s.Hostname, Status: provider.StatusPending, RawStatus: "ordered: " + tx.Status, Plan: s.Plan, Region: strings.ToUpper(s.Region)}
}

// DeleteServer releases an adopted server and never cancels it: it
// activates the rescue system, resets the server into it (so nothing of
// the cluster runs on), takes it off the cluster's vSwitch and replaces its
// tag with ReleasedName last, so an interrupted release is found and finished by the next
// destroy. A server no cluster holds is already released.
func (p *Provider) DeleteServer(ctx context.Context, id string) error {
	if strings.HasPrefix(id, orderPrefix) {
		// An order that is not delivered has no server to release yet;
		// a delivered one is released under its number.
		s, err := p.orderedServer(ctx, id)
		if err != nil || strings.HasPrefix(s.ID, orderPrefix) {
			return err
		}
		id = s.ID
	}
	n, s, found, err := toDelete(ctx, id, parseNumber, p.api.Server)
	if !found {
		return err
	}
	t, ok := parseTag(s.Name)
	if !ok {
		return nil
	}
	if _, err := p.api.ActivateRescue(ctx, n, p.fingerprint()); err != nil && !IsCode(err, "BOOT_ALREADY_ENABLED") {
		return fmt.Errorf("release server %d: activate rescue: %w", n, err)
	}
	if err := p.api.Reset(ctx, n, "hw"); err != nil {
		return fmt.Errorf("release server %d: reset: %w", n, err)
	}
	if vs, err := p.clusterVSwitch(ctx, t.Cluster); err != nil {
		return err
	} else if vs != nil {
		full, err := p.api.VSwitch(ctx, vs.ID)
		if err != nil {
			return err
		}
		for _, m := range full.Servers {
			if m.Number == n {
				if err := p.vswitchChange(ctx, func() error { return p.api.RemoveFromVSwitch(ctx, vs.ID, n) }); err != nil {
					return fmt.Errorf("release server %d: leave vSwitch %d: %w", n, vs.ID, err)
				}
			}
		}
	}
	if _, err := p.api.RenameServer(ctx, n, ReleasedName); err != nil {
		return fmt.Errorf("release server %d: clear its name: %w", n, err)
	}
	return nil
}

// InstallTalos puts Talos on a server: rescue system with the configured
// key, hardware reset, SSH in, pick the install disk from the disks the
// rescue system reports (or Config.InstallDisk), stream the raw image onto
// it, reboot. The server then starts Talos in maintenance mode. It returns
// the disk it wrote.
func (p *Provider) InstallTalos(ctx context.Context, number int, imageURL string) (string, error) {
	if p.cfg.SSHKey == nil {
		return "", fmt.Errorf("no SSH key to log into the rescue system: set HETZNER_ROBOT_SSH_KEY: %w", provider.ErrInvalid)
	}
	srv, err := p.api.Server(ctx, number)
	if err != nil {
		return "", err
	}
	_, err = p.api.ActivateRescue(ctx, number, p.fingerprint())
	if IsCode(err, "BOOT_ALREADY_ENABLED") {
		// A rescue boot left from an earlier attempt may admit another
		// key: replace it with ours.
		if err = p.api.DeactivateRescue(ctx, number); err == nil {
			_, err = p.api.ActivateRescue(ctx, number, p.fingerprint())
		}
	}
	if err != nil {
		return "", fmt.Errorf("activate the rescue system of server %d: %w", number, err)
	}
	if err := p.api.Reset(ctx, number, "hw"); err != nil {
		return "", fmt.Errorf("reset server %d into the rescue system: %w", number, err)
	}
	sess, err := rescue.Dial(ctx, p.cfg.Clock, p.cfg.DialRescue(srv.IP), rescue.Auth{Signer: p.cfg.SSHKey})
	if err != nil {
		return "", err
	}
	defer sess.Close()
	disk := p.cfg.InstallDisk
	if disk == "" {
		disks, err := sess.Disks(ctx)
		if err != nil {
			return "", err
		}
		d, err := rescue.ChooseInstallDisk(disks)
		if err != nil {
			return "", fmt.Errorf("server %d: %w", number, err)
		}
		disk = d.Name
	}
	if err := sess.WriteImage(ctx, imageURL, disk); err != nil {
		return "", fmt.Errorf("server %d: write Talos to /dev/%s: %w", number, disk, err)
	}
	if err := sess.Reboot(ctx); err != nil {
		return "", fmt.Errorf("server %d: reboot into Talos: %w", number, err)
	}
	return disk, nil
}

var productCores = regexp.MustCompile(`(?i)(\d+)[- ]core`)
var productMemory = regexp.MustCompile(`(?i)(\d+)\s*GB\b.*RAM`)
var productDrives = regexp.MustCompile(`(?i)(\d+)\s*x\s*([\d.,]+)\s*(GB|TB)\s+(.*)`)

// ListPlans returns the standard products with their monthly prices in EUR
// per location; a location a product is not offered at is not in stock.
// Robot bills dedicated servers by the month: the hourly figure is the
// monthly price spread over 730 hours, for comparison only.
func (p *Provider) ListPlans(ctx context.Context, f provider.PlanFilter) ([]provider.Plan, error) {
	products, err := p.api.Products(ctx)
	if err != nil {
		return nil, err
	}
	var out []provider.Plan
	for _, pr := range products {
		if plan := planOf(pr); f.Match(plan) {
			out = append(out, plan)
		}
	}
	return out, nil
}

func planOf(pr Product) provider.Plan {
	plan := provider.Plan{Slug: pr.ID, Name: pr.Name, Currency: "EUR", TalosCapable: true}
	for _, line := range pr.Description {
		if m := productCores.FindStringSubmatch(line); m != nil && plan.Cores == 0 {
			plan.Cores, _ = strconv.Atoi(m[1])
			plan.CPU = line
		}
		if m := productMemory.FindStringSubmatch(line); m != nil && plan.MemoryGB == 0 {
			plan.MemoryGB, _ = strconv.Atoi(m[1])
		}
		if m := productDrives.FindStringSubmatch(line); m != nil {
			count, _ := strconv.Atoi(m[1])
			size, _ := strconv.ParseFloat(strings.ReplaceAll(m[2], ",", "."), 64)
			if strings.EqualFold(m[3], "TB") {
				size *= 1000
			}
			plan.Drives = append(plan.Drives, provider.Drive{Count: count, SizeGB: size, Type: strings.TrimSpace(m[4])})
		}
		if strings.Contains(strings.ToUpper(line), "GPU") || strings.Contains(line, "NVIDIA") {
			plan.GPUCount, plan.GPUType = 1, line
		}
	}
	for _, price := range pr.Prices {
		monthly, _ := strconv.ParseFloat(price.Price.Net, 64)
		setup, _ := strconv.ParseFloat(price.PriceSetup.Net, 64)
		plan.Regions = append(plan.Regions, provider.PlanRegion{
			Site: strings.ToUpper(price.Location), InStock: containsFold(pr.Location, price.Location),
			Monthly: monthly, Hourly: monthly / 730, Setup: setup,
		})
	}
	return plan
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

var locationNames = map[string][2]string{
	"FSN1": {"Falkenstein", "DE"}, "NBG1": {"Nuremberg", "DE"}, "HEL1": {"Helsinki", "FI"},
}

// ListRegions returns the locations products are offered at.
func (p *Provider) ListRegions(ctx context.Context) ([]provider.Region, error) {
	products, err := p.api.Products(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []provider.Region
	for _, pr := range products {
		for _, price := range pr.Prices {
			loc := strings.ToUpper(price.Location)
			if seen[loc] {
				continue
			}
			seen[loc] = true
			name, country := loc, ""
			if n, ok := locationNames[loc]; ok {
				name, country = n[0], n[1]
			}
			out = append(out, provider.Region{Slug: loc, Name: name, Country: country})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Slug < out[b].Slug })
	return out, nil
}

// orderedServer follows an order to its server: pending until Robot
// delivers it, then the delivered server, tagged with the order's comment
// (the tag the order was placed with) if it is not tagged yet.
func (p *Provider) orderedServer(ctx context.Context, id string) (provider.Server, error) {
	txID := strings.TrimPrefix(id, orderPrefix)
	auction := strings.HasPrefix(txID, "auction-")
	txID = strings.TrimPrefix(txID, "auction-")
	tx, err := p.api.GetTransaction(ctx, txID, auction)
	if err != nil {
		return provider.Server{}, err
	}
	if tx.ServerNumber == nil {
		out := provider.Server{ID: id, Status: provider.StatusPending, RawStatus: "ordered: " + tx.Status}
		if tx.Comment != nil {
			t, _ := parseTag(*tx.Comment)
			out.Hostname = t.Hostname
		}
		if tx.Status == "cancelled" {
			out.Status = provider.StatusFailed
		}
		return out, nil
	}
	s, err := p.api.Server(ctx, *tx.ServerNumber)
	if err != nil {
		return provider.Server{}, err
	}
	if _, tagged := parseTag(s.Name); !tagged {
		// A fresh delivery has no name and takes the order's tag; any
		// other name means it was released (or renamed) since.
		_, ok := parseTag(deref(tx.Comment))
		if s.Name != "" || !ok {
			return provider.Server{}, fmt.Errorf("ordered server %d is not part of a cto cluster: %w", s.Number, provider.ErrNotFound)
		}
		if s, err = p.api.RenameServer(ctx, s.Number, *tx.Comment); err != nil {
			return provider.Server{}, err
		}
	}
	return serverOf(s), nil
}
