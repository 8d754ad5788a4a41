// Package deploy holds the steps of `cto deploy`, each in its own file,
// which the pipeline engine runs in order: validate, machines (its phases
// servers, network and talos), kubernetes, platform, dns, credentials.
package deploy

import "github.com/cto-platform/cto/internal/pipeline"

// Step names, in order: each has its own record in the journal, and
// `--until` takes one of them. Servers, network and talos are the phases
// of the machines step.
const (
	StepValidate    = "validate"
	StepServers     = "servers"
	StepNetwork     = "network"
	StepTalos       = "talos"
	StepKubernetes  = "kubernetes"
	StepPlatform    = "platform"
	StepDNS         = "dns"
	StepCredentials = "credentials"

	// StepMachines groups the phases that bring every node from nothing
	// to running the cluster's Talos config; it has no record of its own.
	StepMachines = "machines"
)

// StepNames lists every journaled step in the order a deploy runs them.
var StepNames = []string{StepValidate, StepServers, StepNetwork, StepTalos, StepKubernetes, StepPlatform, StepDNS, StepCredentials}

// Steps returns the steps of `cto deploy`, in order.
func Steps() []pipeline.Step {
	return []pipeline.Step{
		validateStep{},
		machinesStep{},
		kubernetesStep{},
		platformStep{},
		dnsStep{},
		credentialsStep{},
	}
}
