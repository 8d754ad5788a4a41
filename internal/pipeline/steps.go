package pipeline

// DeploySteps returns the steps of `cto deploy`, in order.
func DeploySteps() []Step {
	return []Step{
		validateStep{},
		serversStep{},
		networkStep{},
		talosStep{},
		kubernetesStep{},
		platformStep{},
		dnsStep{},
		credentialsStep{},
	}
}
