package spec

// Starter is the cluster.yaml `cto init` writes: every key, commented.
const Starter = `# cluster.yaml: a CTO Platform cluster. Deploy it with: cto deploy -f cluster.yaml
# Flags given to cto deploy override the values in this file.
apiVersion: cto.dev/v1alpha1
kind: Cluster

# Cluster name: a DNS label, at most 40 characters. Every server is tagged with it.
name: cto

# Where the servers come from: latitude, hetzner, hetzner-robot, vultr,
# local (kind on this machine) or existing (a cluster you already have).
provider: latitude

# Site or location. List them with: cto regions --provider latitude
region: DAL
# Tried in order when the plan is out of stock in region.
fallbackRegions: [MIA2, LAX, ASH]

# Server plan for control planes (and workers unless workerPlan is set).
# List them, with prices, with: cto plans --provider latitude --region DAL
plan: c2-small-x86
# workerPlan: c2-large-x86

# Total servers, control planes included. Control planes: 1, 3 or 5.
nodes: 3
controlPlanes: 1

# minimal, standard or production (production runs 3 control planes).
profile: standard

# Provider project (Latitude: ID or slug). Empty: a project named after the cluster.
# project: proj_xxxxxxxx

# Add GPU nodes (NVIDIA drivers and the device plugin).
gpu: false
# Keep pods off the GPU workers unless they tolerate
# nvidia.com/gpu=present:NoSchedule; the control planes take the rest.
# gpuTaint: false

# Refuse to create anything when the monthly estimate is higher (0: no cap).
maxMonthlyCost: 0

# license: /path/to/license.json

talos:
  # version: v1.13.9
  # kubernetesVersion: 1.36.3
  # imageFactoryURL: https://factory.talos.dev

network:
  # Private addresses of the nodes on the cluster's VLAN.
  cidr: 10.8.0.0/24

# dns:
#   domain: example.com
#   provider: cloudflare

platform:
  # GitHub organization/repository the platform works on.
  # githubRepo: my-org/my-repo
  # Serve every chart from one mirror (air-gapped installs).
  # chartMirror: https://charts.example.internal
  # Wait this long for the components to become healthy.
  timeout: 20m
`
