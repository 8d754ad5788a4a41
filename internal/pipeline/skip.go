package pipeline

// skipWithoutMachines skips a step that works on servers cto rents, for
// clusters that already exist (provider existing) or run locally.
func skipWithoutMachines(r *Run) (string, bool) {
	if r.Deps != nil && !r.Deps.Spec.NeedsMachines() {
		return "provider " + r.Deps.Spec.Provider + " has no servers for cto to set up", true
	}
	return "", false
}
