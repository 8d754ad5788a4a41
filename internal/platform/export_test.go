package platform

import "context"

// WithComponents replaces the catalog's selection, for tests of upgrades
// from one version of a component to another.
func (in *Installer) WithComponents(comps []Component) { in.components = comps }

// ReleaseComponent installs or upgrades one component's Helm release.
func (in *Installer) ReleaseComponent(ctx context.Context, c Component) (bool, error) {
	return in.helmRelease(ctx, c)
}
