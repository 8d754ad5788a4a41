package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cto-platform/cto/internal/events"
	"github.com/cto-platform/cto/internal/state"
)

// RunLogDir is the folder of a cluster's per-run logs. It sits below the
// cluster's folder, so a shared store (--state) does not carry it.
const RunLogDir = "logs"

// keptRunLogs is how many run logs a cluster keeps; older ones go.
const keptRunLogs = 20

// withRunLog writes every event of the run, at the most detailed level,
// to logs/<command>-<time>.log (0600) in the cluster's folder, besides
// what the user sees. The path is "" when no log could be opened; the run
// goes on without one.
func withRunLog(ui progress, c *state.Cluster, command string, now time.Time) (progress, string, error) {
	dir := c.Path(RunLogDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ui, "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.log", command, now.UTC().Format("20060102T150405.000Z")))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return ui, "", err
	}
	pruneRunLogs(dir, keptRunLogs)
	return &teeUI{progress: ui, log: &plainUI{w: f, verbose: 2}, file: f}, path, nil
}

// pruneRunLogs removes all but the newest keep logs (their names sort by
// time within a command).
func pruneRunLogs(dir string, keep int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var logs []os.DirEntry
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".log") {
			logs = append(logs, e)
		}
	}
	slices.SortFunc(logs, func(a, b os.DirEntry) int {
		ia, _ := a.Info()
		ib, _ := b.Info()
		if ia == nil || ib == nil {
			return strings.Compare(a.Name(), b.Name())
		}
		return ia.ModTime().Compare(ib.ModTime())
	})
	for len(logs) > keep {
		os.Remove(filepath.Join(dir, logs[0].Name()))
		logs = logs[1:]
	}
}

// teeUI shows events as the user asked and writes each to the run log.
type teeUI struct {
	progress
	log  *plainUI
	file *os.File
}

func (u *teeUI) Emit(e events.Event) {
	u.progress.Emit(e)
	u.log.Emit(e)
}

func (u *teeUI) Close() {
	u.progress.Close()
	u.file.Close()
}
