package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cto-platform/cto/internal/state"
	"github.com/cto-platform/cto/internal/state/remote"
)

// remoteState is --state: clusters kept in an object store, worked on in
// local copies under the state folder.
type remoteState struct {
	url   string
	store *remote.Store
	key   *remote.Key
	ttl   time.Duration
	// local is the state folder without --state, where push and pull
	// move clusters from and to.
	local string
}

// openRemote reads --state and --state-key; bad ones are bad input, found
// before anything runs.
func (g *globals) openRemote(cmd *cobra.Command) error {
	if g.stateURL == "" {
		if changed(cmd.Flags(), "state-key") {
			return badInputf("--state-key encrypts secrets kept in --state; give --state s3://BUCKET/PREFIX too")
		}
		return nil
	}
	loc, err := remote.ParseURL(g.stateURL)
	if err != nil {
		return BadInput(err)
	}
	if g.lockTTL < 10*time.Second {
		return badInputf("--state-lock-ttl %s is too short to renew the lock in time; use 10s or more", g.lockTTL)
	}
	r := &remoteState{url: g.stateURL, ttl: g.lockTTL, local: g.stateDir}
	if g.stateKey != "" {
		if r.key, err = remote.LoadKey(expandHome(g.stateKey)); err != nil {
			return BadInput(err)
		}
	}
	if r.store, err = remote.Open(cmd.Context(), loc); err != nil {
		return BadInput(err)
	}
	if cmd.Name() == "deploy" && r.key == nil {
		return badInputf("--state %s keeps the cluster's secrets (Talos secrets, kubeconfig, passwords) encrypted with age and needs --state-key; %s", loc, remote.NoKeyHint)
	}
	g.remote = r
	// Commands work on a local copy of each cluster, as without --state.
	g.stateDir = filepath.Join(g.stateDir, "remote", loc.Bucket, filepath.FromSlash(loc.Prefix))
	return nil
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// lockCluster takes the cluster's lock for a command that changes it. With
// --state it also takes the store's lock, brings the store's copy into the
// local folder and replicates the folder back until the returned unlock,
// which sends the last changes and releases both locks. The returned
// context ends when the store's lock is lost, so the command stops before
// another writer can start.
func (g *globals) lockCluster(ctx context.Context, c *state.Cluster, command string) (context.Context, func() error, error) {
	unlockLocal, err := c.Lock(command)
	if err != nil {
		return ctx, nil, err
	}
	if g.remote == nil {
		return ctx, func() error { unlockLocal(); return nil }, nil
	}
	r := g.remote
	lease, err := remote.Acquire(ctx, r.store, c.Name, command, r.ttl)
	if err != nil {
		unlockLocal()
		if errors.Is(err, remote.ErrNoConditionalWrites) {
			return ctx, nil, BadInput(err)
		}
		return ctx, nil, err
	}
	rep, err := remote.NewReplica(ctx, r.store, c.Name, c.Dir, r.key)
	if err == nil {
		var kept bool
		if kept, err = rep.Pull(ctx); kept {
			fmt.Fprintf(g.streams.ErrOut, "The local copy in %s has changes a stopped command did not send to %s; sending them.\n", c.Dir, r.store.Loc)
		}
	}
	if err != nil {
		lease.Release(context.Background())
		unlockLocal()
		return ctx, nil, err
	}
	rep.Start()
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-lease.Lost():
			cancel(lease.Err())
		case <-rep.Failed():
			cancel(rep.Err())
		case <-ctx.Done():
		}
	}()
	var once sync.Once
	var uerr error
	return ctx, func() error {
		once.Do(func() {
			uerr = rep.Stop(context.Background())
			lerr := lease.Err()
			if lerr == nil {
				lerr = lease.Release(context.Background())
			}
			cancel(nil)
			unlockLocal()
			if uerr == nil {
				uerr = lerr
			}
		})
		return uerr
	}, nil
}

// openLocked opens cluster name's folder, making it when there is none,
// and takes its lock for command as lockCluster does.
func (g *globals) openLocked(ctx context.Context, name, command string) (*state.Cluster, context.Context, func() error, error) {
	c, err := state.Open(g.stateDir, name, true)
	if err != nil {
		return nil, ctx, nil, err
	}
	ctx, unlock, err := g.lockCluster(ctx, c, command)
	return c, ctx, unlock, err
}

// unlockInto runs unlock and reports its error through *err, after the
// command's own.
func unlockInto(err *error, unlock func() error) {
	if uerr := unlock(); uerr != nil {
		if *err == nil {
			*err = uerr
		} else {
			*err = fmt.Errorf("%w; %v", *err, uerr)
		}
	}
}

// pullCluster brings the store's copy of a cluster into its local folder
// for a command that only reads it. It leaves a local copy alone while a
// command here works on it: that copy is the newest.
func (g *globals) pullCluster(ctx context.Context, name string) error {
	if g.remote == nil {
		return nil
	}
	c, err := state.Open(g.stateDir, name, true)
	if err != nil {
		return BadInput(err)
	}
	unlock, err := c.Lock("read")
	if err != nil {
		return nil
	}
	defer unlock()
	rep, err := remote.NewReplica(ctx, g.remote.store, name, c.Dir, g.remote.key)
	if err != nil {
		return err
	}
	if _, err := rep.Pull(ctx); err != nil {
		if errors.Is(err, remote.ErrConflict) {
			fmt.Fprintf(g.streams.ErrOut, "Showing the local copy in %s: it has changes %s lacks.\n", c.Dir, g.remote.store.Loc)
			return nil
		}
		return err
	}
	if !c.Exists() {
		c.Remove() // not in the store: no cluster
	}
	return nil
}

// openToRead opens an existing cluster for a command that only reads it,
// bringing the store's copy in first with --state.
func (g *globals) openToRead(ctx context.Context, name string) (*state.Cluster, error) {
	if err := g.pullCluster(ctx, name); err != nil {
		return nil, err
	}
	c, err := state.Open(g.stateDir, name, false)
	if err != nil {
		return nil, BadInput(err)
	}
	return c, nil
}

func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Work with clusters kept in S3-compatible object storage (--state)",
		Long: `With --state s3://BUCKET/PREFIX (or CTO_STATE) every command keeps clusters in an
S3-compatible bucket instead of the state folder, so a team or a CI job shares
them: the journal, the secrets encrypted with age (--state-key), and a lock that
keeps two commands on different machines from working on one cluster at once.
Credentials and region come from the standard AWS variables and profiles; for
other stores add ?endpoint=http://host:port&region=R&use_path_style=true.`,
		Example: `  cto state keygen --out ~/.cto/state.key
  export CTO_STATE=s3://acme-infra/cto CTO_STATE_KEY=~/.cto/state.key
  cto state push --name prod
  cto state list
  cto state add-recipient age1...
  cto state unlock --name prod --force`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newStateKeygenCmd(g), newStateListCmd(g), newStateUnlockCmd(g), newStatePushCmd(g), newStatePullCmd(g), newStateAddRecipientCmd(g))
	return cmd
}

// needRemote and needKey are the PreRunE of the state subcommands: they
// refuse before the command runs when --state, or --state-key for the
// secrets, is missing.
func (g *globals) needRemote(*cobra.Command, []string) error {
	if g.remote == nil {
		return badInputf("this command works on remote state: give --state s3://BUCKET/PREFIX or set CTO_STATE")
	}
	return nil
}

func (g *globals) needKey(cmd *cobra.Command, args []string) error {
	if err := g.needRemote(cmd, args); err != nil {
		return err
	}
	if g.remote.key == nil {
		return badInputf("this command reads or writes the secrets in %s and needs --state-key; %s", g.remote.store.Loc, remote.NoKeyHint)
	}
	return nil
}

func newStateKeygenCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create an age key (0600) to encrypt secrets kept in --state",
		Long: `Write a new age identity, as age-keygen does, to --out (mode 0600) and print its
public key (the recipient). Pass the file with --state-key or CTO_STATE_KEY;
teammates send their recipient to someone with access, who runs
` + "`cto state add-recipient`" + `. Keep the file safe: secrets encrypted to it cannot
be read without it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return badInputf("--out FILE is required: where to write the key")
			}
			path := expandHome(out)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			rcpt, err := remote.Keygen(path)
			if err != nil {
				return BadInput(err)
			}
			if g.json() {
				return json.NewEncoder(g.streams.Out).Encode(map[string]string{"key_file": path, "recipient": rcpt})
			}
			fmt.Fprintf(g.streams.Out, "Key written to %s (keep it safe)\nPublic key (recipient): %s\n", path, rcpt)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the key to; it must not exist")
	return cmd
}

type remoteCluster struct {
	Name   string           `json:"name"`
	Locked *remote.LockInfo `json:"lock,omitempty"`
}

func newStateListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the clusters in --state and who holds their locks",
		Args:    cobra.NoArgs,
		PreRunE: g.needRemote,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, names, err := g.remote.store.List(ctx, "clusters", true)
			if err != nil {
				return err
			}
			var out []remoteCluster
			for _, n := range names {
				rc := remoteCluster{Name: n}
				if info, _, err := remote.Peek(ctx, g.remote.store, n); err == nil {
					rc.Locked = &info
				}
				out = append(out, rc)
			}
			if g.json() {
				if out == nil {
					out = []remoteCluster{}
				}
				return json.NewEncoder(g.streams.Out).Encode(out)
			}
			for _, rc := range out {
				if rc.Locked != nil {
					fmt.Fprintf(g.streams.Out, "%s\tlocked by %s on %s (cto %s, pid %d)\n", rc.Name, rc.Locked.Holder, rc.Locked.Host, rc.Locked.Command, rc.Locked.PID)
				} else {
					fmt.Fprintln(g.streams.Out, rc.Name)
				}
			}
			return nil
		},
	}
}

func newStateUnlockCmd(g *globals) *cobra.Command {
	var name string
	var force bool
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove a cluster's lock in --state whose holder is gone",
		Long: `Remove the lock of a cluster in --state when the process holding it is gone (its
machine died, or it was killed) and you cannot wait for the lock to expire.
Only the lock as read is removed: if its holder renews it meanwhile, it stays.
The holder, if it is alive after all, notices and stops.`,
		Args:    cobra.NoArgs,
		PreRunE: g.needRemote,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				return badInputf("unlock takes the lock from whoever holds it; add --force if that process is gone")
			}
			if _, err := state.Open(g.stateDir, name, false); err != nil && !errors.Is(err, os.ErrNotExist) {
				return BadInput(err)
			}
			held, err := remote.Unlock(cmd.Context(), g.remote.store, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.streams.Out, "Removed the lock of cluster %s held by %s on %s (cto %s, pid %d)\n", name, held.Holder, held.Host, held.Command, held.PID)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "cto", "cluster name")
	cmd.Flags().BoolVar(&force, "force", false, "remove the lock whoever holds it")
	return cmd
}

func newStatePushCmd(g *globals) *cobra.Command {
	var name string
	var force, keep bool
	cmd := &cobra.Command{
		Use:   "push",
		Short: "Move a cluster from the state folder into --state",
		Long: `Move a cluster from the local state folder (--state-dir) into --state: its
journal, and its secrets encrypted to --state-key and the bucket's recipients.
The store's copy is read back and compared before the local folder is removed
(--keep-local keeps it). A cluster already in the store is replaced only with
--force.`,
		Args:    cobra.NoArgs,
		PreRunE: g.needKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := state.Open(g.remote.local, name, false)
			if err != nil {
				return BadInput(err)
			}
			if !src.Exists() {
				return badInputf("cluster %q in %s has no journal: nothing to push", name, g.remote.local)
			}
			unlockSrc, err := src.Lock("state push")
			if err != nil {
				return err
			}
			defer unlockSrc()
			return g.moveIntoStore(cmd.Context(), src, force, keep)
		},
	}
	cmd.Flags().StringVar(&name, "name", "cto", "cluster name")
	cmd.Flags().BoolVar(&force, "force", false, "replace the cluster's copy in the store")
	cmd.Flags().BoolVar(&keep, "keep-local", false, "keep the local folder after the push")
	return cmd
}

// moveIntoStore copies src's files into the cluster's local copy of the
// store, sends them, and proves they arrive whole before removing src.
func (g *globals) moveIntoStore(ctx context.Context, src *state.Cluster, force, keep bool) (err error) {
	c, _, unlock, err := g.openLocked(ctx, src.Name, "state push")
	if err != nil {
		return err
	}
	defer unlockInto(&err, unlock)
	if c.Exists() && !force {
		return badInputf("cluster %q is already in %s; `cto state pull --name %s` it, or add --force to replace it", src.Name, g.remote.store.Loc, src.Name)
	}
	files, err := clusterFiles(src.Dir)
	if err != nil {
		return err
	}
	old, _ := clusterFiles(c.Dir)
	for n := range old {
		if _, ok := files[n]; !ok {
			os.Remove(c.Path(n))
		}
	}
	for n, data := range files {
		if err := state.WriteFile(c.Path(n), data, 0o600); err != nil {
			return err
		}
	}
	// Send and release now; the deferred unlock then does nothing.
	if err := unlock(); err != nil {
		return err
	}
	// Read it back as a teammate would, with the key, and compare.
	check := filepath.Join(os.TempDir(), fmt.Sprintf("cto-state-check-%d", os.Getpid()))
	defer os.RemoveAll(check)
	rep, err := remote.NewReplica(ctx, g.remote.store, src.Name, check, g.remote.key)
	if err != nil {
		return err
	}
	if _, err := rep.Pull(ctx); err != nil {
		return err
	}
	back, err := clusterFiles(check)
	if err != nil {
		return err
	}
	for n, data := range files {
		if string(back[n]) != string(data) {
			return fmt.Errorf("%s of cluster %q did not read back from %s as sent; the local folder %s is kept", n, src.Name, g.remote.store.Loc, src.Dir)
		}
	}
	if keep {
		fmt.Fprintf(g.streams.Out, "Pushed cluster %s to %s; the local copy in %s stays (commands without --state use it)\n", src.Name, g.remote.store.Loc, src.Dir)
		return nil
	}
	if err := src.Remove(); err != nil {
		return err
	}
	fmt.Fprintf(g.streams.Out, "Moved cluster %s to %s\n", src.Name, g.remote.store.Loc)
	return nil
}

// clusterFiles reads the files of a cluster folder that make its state.
func clusterFiles(dir string) (map[string][]byte, error) { return remote.Files(dir) }

func newStatePullCmd(g *globals) *cobra.Command {
	var name string
	var force, keep bool
	cmd := &cobra.Command{
		Use:   "pull",
		Short: "Move a cluster from --state into the state folder",
		Long: `Move a cluster from --state into the local state folder (--state-dir): its
journal and its secrets, decrypted with --state-key. The cluster then leaves the
store (--keep-remote keeps it there too, as a copy that no longer follows the
local one). A cluster already in the state folder is replaced only with --force.`,
		Args:    cobra.NoArgs,
		PreRunE: g.needKey,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			dst, err := state.Open(g.remote.local, name, true)
			if err != nil {
				return BadInput(err)
			}
			unlockDst, err := dst.Lock("state pull")
			if err != nil {
				return err
			}
			defer unlockDst()
			if dst.Exists() && !force {
				return badInputf("cluster %q is already in %s; add --force to replace it", name, g.remote.local)
			}
			c, _, unlock, err := g.openLocked(cmd.Context(), name, "state pull")
			if err != nil {
				return err
			}
			defer unlockInto(&err, unlock)
			if !c.Exists() {
				return badInputf("no cluster %q in %s", name, g.remote.store.Loc)
			}
			files, err := clusterFiles(c.Dir)
			if err != nil {
				return err
			}
			for n, data := range files {
				if err := state.WriteFile(dst.Path(n), data, 0o600); err != nil {
					return err
				}
			}
			if keep {
				fmt.Fprintf(g.streams.Out, "Copied cluster %s from %s to %s\n", name, g.remote.store.Loc, dst.Dir)
				return nil
			}
			// Removing the local copy removes the cluster from the store
			// when the lock is released.
			for n := range files {
				os.Remove(c.Path(n))
			}
			fmt.Fprintf(g.streams.Out, "Moved cluster %s from %s to %s\n", name, g.remote.store.Loc, dst.Dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "cto", "cluster name")
	cmd.Flags().BoolVar(&force, "force", false, "replace the cluster in the state folder")
	cmd.Flags().BoolVar(&keep, "keep-remote", false, "leave the cluster in the store too")
	return cmd
}

func newStateAddRecipientCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "add-recipient AGE-RECIPIENT",
		Short: "Let another age key read the secrets in --state, re-encrypting them",
		Long: `Add an age recipient (age1..., the public key ` + "`cto state keygen`" + ` or age-keygen
prints) to the bucket's recipients file and re-encrypt every cluster's secrets
to all recipients, so its owner can read them with their own --state-key.
Needs --state-key to decrypt them first. A cluster in use is skipped and named;
run the command again later to re-encrypt it.`,
		Args:    cobra.ExactArgs(1),
		PreRunE: g.needKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			added, err := remote.AddRecipient(ctx, g.remote.store, strings.TrimSpace(args[0]))
			if err != nil {
				return BadInput(err)
			}
			if !added {
				fmt.Fprintf(g.streams.Out, "%s is already a recipient; re-encrypting anyway\n", args[0])
			}
			_, names, err := g.remote.store.List(ctx, "clusters", true)
			if err != nil {
				return err
			}
			var busy []string
			for _, n := range names {
				if err := g.reseal(ctx, n); err != nil {
					if errors.Is(err, remote.ErrLocked) || errors.Is(err, state.ErrLocked) {
						busy = append(busy, n)
						continue
					}
					return err
				}
				fmt.Fprintf(g.streams.Out, "Re-encrypted the secrets of cluster %s\n", n)
			}
			if len(busy) > 0 {
				return fmt.Errorf("clusters in use were not re-encrypted: %s; run the command again when they are free", strings.Join(busy, ", "))
			}
			return nil
		},
	}
}

func (g *globals) reseal(ctx context.Context, name string) (err error) {
	c, err := state.Open(g.stateDir, name, true)
	if err != nil {
		return err
	}
	unlockLocal, err := c.Lock("state add-recipient")
	if err != nil {
		return err
	}
	defer unlockLocal()
	lease, err := remote.Acquire(ctx, g.remote.store, name, "state add-recipient", g.remote.ttl)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := lease.Release(context.Background()); err == nil {
			err = rerr
		}
	}()
	rep, err := remote.NewReplica(ctx, g.remote.store, name, c.Dir, g.remote.key)
	if err != nil {
		return err
	}
	if _, err := rep.Pull(ctx); err != nil {
		return err
	}
	return rep.Reseal(ctx)
}

// readJournal reads the journal of cluster name under the state folder
// root: a fresh one when the folder has none, an error when there is no
// such folder.
func readJournal(root, name string) (*state.Journal, error) {
	c, err := state.Open(root, name, false)
	if err != nil {
		return nil, err
	}
	return c.Load()
}

// listClusters names the clusters, in the store with --state.
func (g *globals) listClusters(ctx context.Context) ([]string, error) {
	if g.remote == nil {
		return state.List(g.stateDir)
	}
	_, names, err := g.remote.store.List(ctx, "clusters", true)
	return names, err
}
