package pipeline

// DeploySteps returns the steps of `cto deploy`, in order.
func DeploySteps() []Step {
	return []Step{
		validateStep{},
		machinesStep{},
		kubernetesStep{},
		platformStep{},
		dnsStep{},
		credentialsStep{},
	}
}
