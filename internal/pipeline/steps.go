package pipeline

// DeploySteps returns the steps of `cto deploy`, in order.
func DeploySteps() []Step {
	return []Step{
		validateStep{},
		serversStep{},
		networkStep{},
		talosStep{},
		localClusterStep{},
		kubernetesStep{},
		platformStep{},
		dnsStep{},
		credentialsStep{},
	}
}
