package provider

import "context"

// BootPath is how a plan's servers reach their boot media.
type BootPath string

const (
	// BootPathDirect: the server is ordered booting the media.
	BootPathDirect BootPath = "direct"
	// BootPathReinstall: the plan refuses the media at order time; the
	// server is ordered with the provider's stock system and reinstalled
	// into the media once that runs.
	BootPathReinstall BootPath = "reinstall"
)

// Reinstaller is a provider whose servers may come up on a stock system
// (Server.NeedsBoot) and are booted into their media by a reinstall once
// they are ready.
type Reinstaller interface {
	Reinstall(ctx context.Context, s Server, boot Boot) error
}

// BootPathLearner is a provider that learns per plan which boot path works,
// so a later deploy goes straight to it. The caller keeps what it learned
// between runs.
type BootPathLearner interface {
	// BootPaths is what the provider knows, by plan slug.
	BootPaths() map[string]BootPath
	// KnowBootPaths adds what an earlier run learned.
	KnowBootPaths(map[string]BootPath)
}
