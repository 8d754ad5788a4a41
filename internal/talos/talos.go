// Package talos installs Talos Linux on a cluster's servers: the Image
// Factory schematic and boot URLs, the secrets bundle and machine configs,
// and a client that configures nodes over the Talos API.
package talos

import (
	"net"
	"strconv"

	"github.com/siderolabs/talos/pkg/machinery/constants"
)

// Versions cto installs unless the cluster spec pins others.
const (
	DefaultTalosVersion = "v1.13.9"
	// DefaultKubernetesVersion is the machinery library's default for the
	// Talos version above.
	DefaultKubernetesVersion = constants.DefaultKubernetesVersion
)

// Ports a Talos cluster listens on.
const (
	APIPort        = 50000 // apid: the Talos API
	TrustdPort     = 50001 // trustd: certificates for joining nodes
	KubernetesPort = 6443  // kube-apiserver
	KubeletPort    = 10250
	KubePrismPort  = 7445 // in-node load balancer for the API server
)

// Cilium's ports between nodes, opened by the host firewall (Cilium
// replaces both the CNI and kube-proxy).
const (
	CiliumHealthPort = 4240
	CiliumVXLANPort  = 8472 // udp
	HubblePort       = 4244
)

// Endpoint returns host with the Talos API port appended when it has none,
// the way the Talos client itself treats endpoints.
func Endpoint(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(APIPort))
}

// Role names as the journal records them.
const (
	RoleControlPlane = "controlplane"
	RoleWorker       = "worker"
)
