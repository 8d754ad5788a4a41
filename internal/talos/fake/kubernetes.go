package fake

import (
	"context"
	"fmt"
	"slices"
	"strings"

	cosiapi "github.com/cosi-project/runtime/api/v1alpha1"
	"github.com/cosi-project/runtime/pkg/resource"
	"github.com/cosi-project/runtime/pkg/resource/protobuf"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	configres "github.com/siderolabs/talos/pkg/machinery/resources/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ImagePull is one image a node was asked to pull, and into which
// containerd namespace.
type ImagePull struct {
	Namespace common.ContainerdNamespace
	Ref       string
}

// ImagePulls are the images the image service pulled, in order.
func (n *Node) ImagePulls() []ImagePull {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.pulls)
}

// imageServer is machined's image service (internal/app/images,
// Service.Pull, Talos v1.13): the caller names the containerd instance
// (CRI or system namespace) and the reference; the answer streams the
// pinned name once pulled. The double pulls nothing: it records the
// request and answers with the reference. A reference that does not
// parse is what containerd refuses.
type imageServer struct {
	machine.UnimplementedImageServiceServer
	n *Node
}

func (s *imageServer) Pull(req *machine.ImageServicePullRequest, srv grpc.ServerStreamingServer[machine.ImageServicePullResponse]) error {
	n := s.n
	if !n.isConfigured() || !isAdmin(srv.Context()) {
		return authzNotAuthorized
	}
	ns := req.GetContainerd().GetNamespace()
	if ns != common.ContainerdNamespace_NS_CRI && ns != common.ContainerdNamespace_NS_SYSTEM {
		return status.Errorf(codes.InvalidArgument, "unsupported namespace %s", ns)
	}
	ref := req.GetImageRef()
	if ref == "" || strings.ContainsAny(ref, " \t") || strings.HasSuffix(ref, ":") {
		return status.Errorf(codes.InvalidArgument, "error pulling image: failed to parse image reference %q", ref)
	}
	n.mu.Lock()
	n.pulls = append(n.pulls, ImagePull{Namespace: ns, Ref: ref})
	n.mu.Unlock()
	return srv.Send(&machine.ImageServicePullResponse{Response: &machine.ImageServicePullResponse_Name{Name: ref}})
}

// stateServer is the COSI resource API as machined serves it
// (internal/app/resources: read-only, and AccessPolicy lets only an admin
// read a sensitive resource such as the MachineConfig). The double holds
// one resource: the running config, MachineConfigs.config.talos.dev
// "v1alpha1" in namespace "config", versioned by how many configs the
// node took; any other type answers as a type the node does not know.
type stateServer struct {
	cosiapi.UnimplementedStateServer
	n *Node
}

func (s *stateServer) Get(ctx context.Context, req *cosiapi.GetRequest) (*cosiapi.GetResponse, error) {
	if req.GetType() != configres.MachineConfigType {
		return nil, status.Error(codes.PermissionDenied, fmt.Sprintf("resource type %q is not supported", req.GetType()))
	}
	if !isAdmin(ctx) {
		return nil, authzNotAuthorized
	}
	if req.GetNamespace() != configres.NamespaceName {
		return nil, status.Error(codes.PermissionDenied, fmt.Sprintf("namespace %q is not supported", req.GetNamespace()))
	}
	n := s.n
	n.mu.Lock()
	cfg, version := n.config, uint64(n.applyCalls+len(n.applied))
	n.mu.Unlock()
	if cfg == nil || req.GetId() != configres.ActiveID {
		return nil, status.Error(codes.NotFound, fmt.Sprintf("resource %s(%s/%s@undefined) doesn't exist", req.GetType(), req.GetNamespace(), req.GetId()))
	}
	mc := configres.NewMachineConfig(cfg)
	v, err := resource.ParseVersion(fmt.Sprint(max(version, 1)))
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	mc.Metadata().SetVersion(v)
	pr, err := protobuf.FromResource(mc)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	out, err := pr.Marshal()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &cosiapi.GetResponse{Resource: out}, nil
}
