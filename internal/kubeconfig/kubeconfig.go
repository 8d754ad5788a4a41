// Package kubeconfig merges a cluster's kubeconfig into the user's under one
// context name, and takes it out again, never touching other contexts.
package kubeconfig

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cto-platform/cto/internal/state"
)

// DefaultPath is the kubeconfig kubectl writes to: the first path of
// $KUBECONFIG, else ~/.kube/config.
func DefaultPath() string {
	for _, p := range filepath.SplitList(os.Getenv("KUBECONFIG")) {
		if p != "" {
			return p
		}
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(".kube", "config")
	}
	return filepath.Join(home, ".kube", "config")
}

// validName is compiled on first use: its counted repetition costs a
// millisecond at start-up that commands without a kubeconfig never repay.
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._@:/-]{1,253}$`) })

// File is the admin kubeconfig's name in a cluster's folder.
const File = "kubeconfig"

// ContextName is the context a cluster gets in the user's kubeconfig.
func ContextName(cluster string) string { return "cto-" + cluster }

// Merge adds the current context of src to dst as context name, with a
// cluster and a user of the same name; entries of that name are replaced
// and everything else in dst is kept. dst's current context is kept, or set
// to name when dst has none.
func Merge(dst, src []byte, name string) ([]byte, error) {
	if !validName().MatchString(name) {
		return nil, fmt.Errorf("kubeconfig merge: context name %q must be letters, digits and . _ - @ : /", name)
	}
	in, err := clientcmd.Load(src)
	if err != nil {
		return nil, fmt.Errorf("cluster kubeconfig: %w", err)
	}
	ctxName := in.CurrentContext
	if ctxName == "" && len(in.Contexts) == 1 {
		for n := range in.Contexts {
			ctxName = n
		}
	}
	ctx := in.Contexts[ctxName]
	if ctx == nil {
		return nil, fmt.Errorf("cluster kubeconfig has no current context")
	}
	cluster, user := in.Clusters[ctx.Cluster], in.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil {
		return nil, fmt.Errorf("cluster kubeconfig: context %q names a missing cluster or user", ctxName)
	}
	out, err := load(dst)
	if err != nil {
		return nil, err
	}
	out.Clusters[name] = cluster.DeepCopy()
	out.AuthInfos[name] = user.DeepCopy()
	c := ctx.DeepCopy()
	c.Cluster, c.AuthInfo = name, name
	out.Contexts[name] = c
	if out.CurrentContext == "" {
		out.CurrentContext = name
	}
	return write(out)
}

// Remove takes context name, and the cluster and user of that name, out
// of dst. removed is false when there was no such context.
func Remove(dst []byte, name string) (out []byte, removed bool, err error) {
	cfg, err := load(dst)
	if err != nil {
		return nil, false, err
	}
	_, removed = cfg.Contexts[name]
	delete(cfg.Contexts, name)
	delete(cfg.Clusters, name)
	delete(cfg.AuthInfos, name)
	if cfg.CurrentContext == name {
		cfg.CurrentContext = ""
	}
	out, err = write(cfg)
	return out, removed, err
}

func load(data []byte) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig cannot be read: %w", err)
	}
	if cfg.Clusters == nil {
		cfg.Clusters = map[string]*clientcmdapi.Cluster{}
	}
	if cfg.AuthInfos == nil {
		cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{}
	}
	if cfg.Contexts == nil {
		cfg.Contexts = map[string]*clientcmdapi.Context{}
	}
	return cfg, nil
}

func write(cfg *clientcmdapi.Config) ([]byte, error) {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	return data, nil
}

// MergeFile merges src into the kubeconfig file at path (created 0600 when
// missing) as context name.
func MergeFile(path string, src []byte, name string) error {
	dst, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := Merge(dst, src, name)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return state.WriteFile(path, out, 0o600)
}

// RemoveFromFile takes context name out of the kubeconfig file at path. A
// missing file or context is not an error.
func RemoveFromFile(path, name string) error {
	dst, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	out, removed, err := Remove(dst, name)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !removed {
		return nil
	}
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return state.WriteFile(path, out, mode)
}

// Minify returns the current context of the kubeconfig file at path as a
// self-contained kubeconfig (certificate files inlined), for the cluster's
// state folder.
func Minify(path string) ([]byte, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if err := clientcmdapi.MinifyConfig(cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return write(cfg)
}

// PinServerHost points every cluster of a kubeconfig whose server names a
// host (not an address) at ip instead, keeping the scheme and port. A
// cluster's API name is published by DNS only after the platform is up,
// while a control plane's address answers at once and is in the API
// server's certificate.
func PinServerHost(data []byte, ip string) ([]byte, error) {
	return pinServers(data, ip, true)
}

// PinServer points every cluster of a kubeconfig at ip, keeping the
// scheme and port: for an endpoint only the nodes can reach, such as a
// VIP on the private network.
func PinServer(data []byte, ip string) ([]byte, error) {
	return pinServers(data, ip, false)
}

func pinServers(data []byte, ip string, onlyHosts bool) ([]byte, error) {
	cfg, err := load(data)
	if err != nil {
		return nil, err
	}
	changed := false
	for _, c := range cfg.Clusters {
		u, err := url.Parse(c.Server)
		if err != nil || u.Hostname() == "" || (onlyHosts && net.ParseIP(u.Hostname()) != nil) {
			continue
		}
		if u.Hostname() == ip {
			continue
		}
		u.Host = withHost(u, ip)
		c.Server = u.String()
		changed = true
	}
	if !changed {
		return data, nil
	}
	return write(cfg)
}

func withHost(u *url.URL, ip string) string {
	if port := u.Port(); port != "" {
		return net.JoinHostPort(ip, port)
	}
	return ip
}

// AddServerContexts adds to a kubeconfig, for each name and address, a
// context "<current context>@<name>" with a cluster of the same name: the
// current context's cluster and user, at that address. The current
// context stays. Users reach the API through any one control plane when
// the one the current context names is down.
func AddServerContexts(data []byte, names, addrs []string) ([]byte, error) {
	if len(names) != len(addrs) {
		return nil, fmt.Errorf("kubeconfig contexts: %d names for %d addresses", len(names), len(addrs))
	}
	cfg, err := load(data)
	if err != nil {
		return nil, err
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	if cur == nil || cfg.Clusters[cur.Cluster] == nil {
		return nil, errors.New("kubeconfig has no current context to copy")
	}
	for i, name := range names {
		u, err := url.Parse(cfg.Clusters[cur.Cluster].Server)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig server %q: %w", cfg.Clusters[cur.Cluster].Server, err)
		}
		u.Host = withHost(u, addrs[i])
		full := cfg.CurrentContext + "@" + name
		cl := cfg.Clusters[cur.Cluster].DeepCopy()
		cl.Server = u.String()
		cfg.Clusters[full] = cl
		ctx := cur.DeepCopy()
		ctx.Cluster = full
		cfg.Contexts[full] = ctx
	}
	return write(cfg)
}
