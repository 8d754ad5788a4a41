package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cto-platform/cto/internal/deploy"
	"github.com/cto-platform/cto/internal/license"
	"github.com/cto-platform/cto/internal/pipeline"
	"github.com/cto-platform/cto/internal/provider"
	"github.com/cto-platform/cto/internal/spec"
	"github.com/cto-platform/cto/internal/state"
)

// deployFlags are cto deploy's flags; each overrides the cluster.yaml value
// only when given.
type deployFlags struct {
	file    string
	yes     bool
	dryRun  bool
	until   string
	s       spec.ClusterSpec
	timeout time.Duration
	// mergeKubeconfig is --merge-kubeconfig; default on for a TTY.
	mergeKubeconfig bool
	// cheapest holds --currency and --rate of --provider cheapest.
	cheapest cheapestFlags
	// fromFile is -f read once (a FIFO cannot be read twice): its spec
	// and the error reading it, once read is set.
	fromFile struct {
		read bool
		s    spec.ClusterSpec
		err  error
	}
}

// fileSpec is the cluster.yaml of -f, read on the first call.
func (f *deployFlags) fileSpec(ctx context.Context) (spec.ClusterSpec, error) {
	if !f.fromFile.read {
		f.fromFile.s, f.fromFile.err = loadSpec(ctx, f.file)
		f.fromFile.read = true
	}
	return f.fromFile.s, f.fromFile.err
}

func newDeployCmd(g *globals) *cobra.Command {
	f := &deployFlags{s: spec.Defaults()}
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Create a cluster and install the CTO Platform on it (resumes when run again)",
		Long: `Deploy runs these steps, recording each in the cluster's journal:

  validate     credentials, license, plan, stock and the cost estimate (nothing is created)
  servers      order the servers, tagged with the cluster name, and wait until they boot
  network      one private VLAN for the cluster, every server assigned
  talos        Talos secrets (kept first), machine configs, applied to every node
  kubernetes   bootstrap etcd exactly once, fetch the kubeconfig
  platform     Cilium and Argo CD via Helm, then the profile's components as Applications
  dns          DNS records for the API and apps (only with --domain)
  credentials  kubeconfig, talosconfig, Argo CD password and URLs

Run the same command again after any failure or interruption: finished steps
are skipped and nothing is created twice. Without a terminal, deploy refuses
to spend money unless --yes is given.`,
		Example: `  cto deploy --provider latitude --plan c2-small-x86 --nodes 3 --region DAL --profile standard
  cto deploy -f cluster.yaml --yes
  cto deploy --provider latitude --plan c2-small-x86 --region DAL --dry-run
  cto deploy --provider existing --kubeconfig ~/.kube/config --profile minimal`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd.Context(), g, f, cmd.Flags())
		},
	}
	fs := cmd.Flags()
	s := &f.s
	fs.StringVarP(&f.file, "config", "f", "", "cluster.yaml to read (flags override its values; `cto init` writes a starter)")
	bindSpecFlags(fs, s)
	fs.DurationVar(&f.timeout, timeoutFlag, 20*time.Minute, "how long to wait for the platform's components to become healthy")
	fs.BoolVar(&f.mergeKubeconfig, "merge-kubeconfig", false, "merge the kubeconfig into ~/.kube/config as context cto-<name> (default on a terminal)")
	fs.BoolVarP(&f.yes, "yes", "y", false, "proceed without asking (required without a terminal)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "validate, estimate the cost and render configs; create nothing")
	fs.StringVar(&f.until, "until", "", "stop after this step: "+strings.Join(deploy.StepNames, "|"))
	addCurrencyFlags(fs, &f.cheapest, "with --provider cheapest")
	return cmd
}

// buildSpec merges defaults, the cluster.yaml and the flags the user gave.
func buildSpec(ctx context.Context, f *deployFlags, fs *pflag.FlagSet) (spec.ClusterSpec, error) {
	s := spec.Defaults()
	if f.file != "" {
		var err error
		if s, err = f.fileSpec(ctx); err != nil {
			return s, err
		}
	}
	applySpecFlags(fs, &f.s, &s)
	if fs.Changed(timeoutFlag) {
		s.Platform.Timeout = f.timeout.String()
	}
	if len(s.Servers) > s.Nodes && !fs.Changed("nodes") {
		// Adopting servers: one node on each, unless --nodes says less.
		s.Nodes = len(s.Servers)
	}
	if s.License == "" {
		s.License = envOr("CTO_LICENSE")
	}
	if s.Platform.ChartMirror == "" {
		s.Platform.ChartMirror = envOr("CTO_CHART_MIRROR")
	}
	if s.Talos.ImageFactoryURL == "" {
		s.Talos.ImageFactoryURL = envOr("CTO_IMAGE_FACTORY_URL")
	}
	s.Complete()
	if err := s.Validate(); err != nil {
		return s, err
	}
	if s.APIURL != "" && s.NeedsMachines() {
		source := "--api-url"
		if !fs.Changed("api-url") {
			source = "apiURL in " + f.file
		}
		if err := checkAPIURL(source, s.APIURL); err != nil {
			return s, err
		}
	}
	return s, nil
}

// loadSpec reads a cluster.yaml, giving up when ctx ends: opening a FIFO
// or reading a device blocks in a system call that no signal interrupts.
// The read left behind ends with the process.
func loadSpec(ctx context.Context, path string) (spec.ClusterSpec, error) {
	type loaded struct {
		s   spec.ClusterSpec
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		s, err := spec.Load(path)
		done <- loaded{s, err}
	}()
	select {
	case l := <-done:
		return l.s, l.err
	case <-ctx.Done():
		return spec.ClusterSpec{}, fmt.Errorf("interrupted while reading %s: %w", path, ctx.Err())
	}
}

// gaveSpec reports whether this invocation described a cluster at all, as
// opposed to `cto deploy --name X` resuming one.
func gaveSpec(f *deployFlags, fs *pflag.FlagSet) bool {
	if f.file != "" {
		return true
	}
	gave := false
	fs.Visit(func(fl *pflag.Flag) {
		if isSpecFlag(fl.Name) && fl.Name != "name" {
			gave = true
		}
	})
	return gave
}

func runDeploy(ctx context.Context, g *globals, f *deployFlags, fs *pflag.FlagSet) (err error) {
	if f.until != "" && !contains(deploy.StepNames, f.until) {
		return badInputf("--until %q is not a step; use one of %s", f.until, strings.Join(deploy.StepNames, ", "))
	}
	choice, err := chooseCheapest(ctx, g, f, fs)
	if err != nil {
		return err
	}
	s, err := buildSpec(ctx, f, fs)
	if err != nil {
		return err
	}
	interactive := isTerminal(g.streams.In) && isTerminal(g.streams.ErrOut)

	// Bad input is caught above; from here on the cluster has a folder.
	c, ctx, unlock, err := g.openLocked(ctx, s.Name, "deploy")
	if err != nil {
		return err
	}
	defer unlockInto(&err, unlock)
	fresh := !c.Exists()
	if s, err = pickPlan(ctx, g, s, gaveSpec(f, fs), interactive); err != nil {
		if fresh {
			c.Remove()
		}
		return err
	}
	j, err := c.Load()
	if err != nil {
		return err
	}
	if len(j.Spec) > 0 {
		var prev spec.ClusterSpec
		if err := json.Unmarshal(j.Spec, &prev); err != nil {
			return fmt.Errorf("%w: the journal's spec cannot be read: %v", state.ErrCorrupt, err)
		}
		if !gaveSpec(f, fs) {
			// Resume with the recorded spec; a renewed license or a
			// moved endpoint given now still counts.
			s = carryOver(prev, s)
			if id := j.FactsCopy().LicenseID; s.License == "" && id != "" {
				return badInputf("cluster %q was deployed with license %s (%s); the journal keeps no license token: pass it again with --license or %s", s.Name, id, j.FactsCopy().LicenseFingerprint, "CTO_LICENSE")
			}
		} else if diff := specDiff(prev, s); diff != "" {
			return badInputf("cluster %q was deployed with different values (%s); rerun with the same values to resume, or `cto destroy --name %s` first", s.Name, diff, s.Name)
		}
	}
	if !f.dryRun {
		// Only a run that may create something pins the cluster's
		// values; a dry run leaves the journal as it found it.
		// The journal names the license by its ID and fingerprint; the
		// token itself stays where the user keeps it.
		pinned := s
		if license.IsToken(pinned.License) {
			pinned.License = ""
		}
		raw, _ := json.Marshal(pinned)
		if err := c.Save(j); err != nil {
			return err
		}
		lic := loadLicense(s.License)
		if err := j.Update(func(j *state.Journal) {
			j.Spec = raw
			j.Provider = s.Provider
			if lic != nil {
				j.Facts.LicenseID = lic.ID
				j.Facts.LicenseFingerprint = lic.Fingerprint()
			}
		}); err != nil {
			return err
		}
	}
	if choice != nil {
		if err := choice.record(j); err != nil {
			return err
		}
	}

	// Refuse what the license does not cover before any provider is
	// involved; the validate step checks again and shows the warnings.
	// Bad input (license, credentials) is reported before the local
	// container engine is probed.
	if _, err := deploy.CheckLicense(s, time.Now()); err != nil {
		if fresh {
			c.Remove()
		}
		return err
	}

	ui, logPath, logErr := withRunLog(newUI(g, "deploy"), c, "deploy", time.Now())
	if logErr != nil {
		fmt.Fprintf(g.streams.ErrOut, "WARNING: this run keeps no log: %v\n", logErr)
	}
	deps, err := newDeps(ctx, g, s, interactive)
	if err == nil {
		err = preflightLocal(ctx, g, f, fs, s)
	}
	if err != nil {
		if fresh {
			c.Remove()
		}
		return err
	}
	deps.Yes = f.yes
	deps.Interactive = interactive
	deps.MergeKubeconfig = f.mergeKubeconfig || (interactive && !changed(fs, "merge-kubeconfig"))
	// Questions wait for each other (steps run side by side) and pause the
	// live view, which would draw over them.
	var asking sync.Mutex
	prompt := func(ask func()) {
		asking.Lock()
		defer asking.Unlock()
		ui.Prompt(ask)
	}
	if interactive && !f.yes {
		deps.Confirm = func(q string) (ok bool, err error) {
			prompt(func() { ok, err = confirm(g.streams, q) })
			return ok, err
		}
	}
	if interactive {
		deps.Ask = func(q string) (answer string, err error) {
			prompt(func() { answer, err = ask(g.streams, q) })
			return answer, err
		}
	}

	run := &pipeline.Run{Cluster: c, Journal: j, Events: ui, Deps: deps, Clock: runClock()}
	engine := &pipeline.Engine{Steps: deploy.Steps()}
	start := time.Now()
	if deps.Provider != nil {
		recallBootPaths(g, s.Provider, s.APIURL, deps.Provider)
	}
	err = engine.Execute(ctx, run, pipeline.Options{Until: f.until, DryRun: f.dryRun})
	if deps.Provider != nil {
		keepBootPaths(g, s.Provider, s.APIURL, deps.Provider)
	}
	ui.Close()
	if err != nil {
		// A run that stopped in validation created nothing: leave no folder.
		if fresh && failedIn(err, deploy.StepValidate) {
			c.Remove()
		} else if logPath != "" && !g.json() {
			fmt.Fprintf(g.streams.ErrOut, "The whole run, in detail: %s\n", logPath)
		}
		return deployFailed(ctx, g, s, c, j, err)
	}
	printSummary(g, run, f, time.Since(start))
	return nil
}

func failedIn(err error, step string) bool {
	var se *pipeline.StepError
	return errors.As(err, &se) && se.Step == step
}

// deployFailed turns a failed run into the message the user acts on: what
// broke, that the journal is kept, and how to resume or clean up.
func deployFailed(ctx context.Context, g *globals, s spec.ClusterSpec, c *state.Cluster, j *state.Journal, err error) error {
	var se *pipeline.StepError
	if errors.As(err, &se) && se.Step == deploy.StepValidate {
		if IsBadInput(se.Err) {
			return se.Err
		}
		// Validation creates nothing, but an earlier run may have.
		if billing := tellStillBilling(g, s.Provider, j, s.Name); billing != "" {
			return fmt.Errorf("%w; %s", err, billing)
		}
		return err
	}
	hint := fmt.Sprintf("the journal is kept in %s; rerun the same command to resume, or `%s` to remove everything", c.Dir, destroyCommand(g, s.Name))
	if billing := tellStillBilling(g, s.Provider, j, s.Name); billing != "" {
		hint = fmt.Sprintf("the journal is kept in %s; rerun the same command to resume; %s", c.Dir, billing)
	}
	switch {
	case errors.Is(err, provider.ErrUnauthorized):
		hint = fmt.Sprintf("%s refused the credentials (revoked or expired?): set valid ones and rerun; %s", s.Provider, hint)
	case errors.Is(err, provider.ErrForbidden):
		hint = fmt.Sprintf("%s accepted the credentials but they lack a permission for this: use a key whose user may manage servers and networks, and rerun; %s", s.Provider, hint)
	case errors.Is(err, provider.ErrLocked):
		hint = fmt.Sprintf("a resource is locked at %s: unlock it there and rerun; %s", s.Provider, hint)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %v; %s", err, hint)
	}
	return fmt.Errorf("%w; %s", err, hint)
}

// loadLicense reads the license a spec names, or nil when there is none or
// it cannot be read (CheckLicense reports why).
func loadLicense(ref string) *license.License {
	v, err := license.Trusted()
	if err != nil {
		return nil
	}
	l, err := license.Load(ref, v)
	if err != nil {
		return nil
	}
	return l
}

// carryOver returns the recorded spec with the values that may change
// between runs taken from this run.
func carryOver(prev, now spec.ClusterSpec) spec.ClusterSpec {
	if now.License != "" {
		prev.License = now.License
	}
	if now.APIURL != "" {
		prev.APIURL = now.APIURL
	}
	if now.Talos.ImageFactoryURL != "" {
		prev.Talos.ImageFactoryURL = now.Talos.ImageFactoryURL
	}
	if now.Platform.ChartMirror != "" {
		prev.Platform.ChartMirror = now.Platform.ChartMirror
	}
	return prev
}

// specDiff names the fields two specs disagree on.
func specDiff(a, b spec.ClusterSpec) string {
	var diffs []string
	// How long to wait for the platform may change between runs, and so
	// may where images and charts come from: errors advise moving them
	// (--image-factory-url, --chart-mirror), which changes no resource.
	a.Platform.Timeout = b.Platform.Timeout
	a.Talos.ImageFactoryURL = b.Talos.ImageFactoryURL
	a.Platform.ChartMirror = b.Platform.ChartMirror
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		if name == "license" || name == "apiURL" {
			continue // may change between runs (renewed license, moved endpoint)
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s was %v, now %v", name, va.Field(i).Interface(), vb.Field(i).Interface()))
		}
	}
	return strings.Join(diffs, ", ")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func ask(st Streams, question string) (string, error) {
	fmt.Fprintf(st.ErrOut, "%s: ", question)
	line, err := bufio.NewReader(st.In).ReadString('\n')
	if err != nil && line == "" {
		return "", nil
	}
	return strings.TrimSpace(line), nil
}

func confirm(st Streams, question string) (bool, error) {
	fmt.Fprintf(st.ErrOut, "%s [y/N] ", question)
	var answer string
	if _, err := fmt.Fscanln(st.In, &answer); err != nil {
		return false, nil
	}
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}
