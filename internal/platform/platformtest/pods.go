package platformtest

import (
	"fmt"
	"strings"
)

// pod describes a workload of a model: what decides whether Pod Security
// admits it, where the scheduler may place it and what it claims. The
// string fields hold template text, so values reach the rendered object.
type pod struct {
	kind, name string
	// when is a template condition around the object ("" = always).
	when string
	// replicas is template text for a Deployment's or StatefulSet's
	// replicas.
	replicas string
	// scheduling is the values path (".Values.server") whose nodeSelector,
	// tolerations and affinity the chart copies into the pod spec, or "".
	scheduling string
	// runtimeClass is template text for runtimeClassName, or "".
	runtimeClass         string
	hostNetwork, hostPID bool
	privileged           bool
	capabilities         []string
	hostPaths            []string
	claims               []claim
	// volumeClaims are PersistentVolumeClaims of the chart the pod mounts.
	volumeClaims  []mountedClaim
	priorityClass string
	// bidirectional is the host path mounted with Bidirectional mount
	// propagation, or "".
	bidirectional string
}

// mountedClaim is a claim a pod mounts while the template condition when
// holds.
type mountedClaim struct{ name, when string }

// claim is a StatefulSet's volumeClaimTemplate; class and size are
// template text (class "" leaves the cluster's default class).
type claim struct{ name, class, size string }

func (p pod) render() string {
	var b strings.Builder
	if p.when != "" {
		fmt.Fprintf(&b, "{{- if %s }}\n", p.when)
	}
	fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: %s\nmetadata:\n  name: %s\n  labels:\n    app.kubernetes.io/name: %s\nspec:\n", p.kind, p.name, p.name)
	switch p.kind {
	case "Deployment", "StatefulSet":
		fmt.Fprintf(&b, "  replicas: %s\n", p.replicas)
	}
	if p.kind == "StatefulSet" {
		fmt.Fprintf(&b, "  serviceName: %s\n", p.name)
	}
	fmt.Fprintf(&b, "  selector:\n    matchLabels:\n      app.kubernetes.io/name: %s\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: %s\n    spec:\n", p.name, p.name)
	if p.hostNetwork {
		b.WriteString("      hostNetwork: true\n")
	}
	if p.hostPID {
		b.WriteString("      hostPID: true\n")
	}
	if p.runtimeClass != "" {
		fmt.Fprintf(&b, "      {{- with %s }}\n      runtimeClassName: {{ . }}\n      {{- end }}\n", p.runtimeClass)
	}
	if p.priorityClass != "" {
		fmt.Fprintf(&b, "      priorityClassName: %s\n", p.priorityClass)
	}
	if s := p.scheduling; s != "" {
		for _, f := range []string{"nodeSelector", "tolerations", "affinity"} {
			fmt.Fprintf(&b, "      {{- with %s.%s }}\n      %s:\n        {{- toYaml . | nindent 8 }}\n      {{- end }}\n", s, f, f)
		}
	}
	fmt.Fprintf(&b, "      containers:\n        - name: main\n          image: registry.invalid/%s:model\n", p.name)
	if p.privileged || len(p.capabilities) > 0 {
		b.WriteString("          securityContext:\n")
		if p.privileged {
			b.WriteString("            privileged: true\n")
		}
		if len(p.capabilities) > 0 {
			fmt.Fprintf(&b, "            capabilities:\n              add: [%s]\n", strings.Join(p.capabilities, ", "))
		}
	}
	var mounts []string
	propagation := map[string]string{}
	for i, h := range p.hostPaths {
		mounts = append(mounts, fmt.Sprintf("host%d", i))
		if h == p.bidirectional {
			propagation[mounts[i]] = "              mountPropagation: Bidirectional\n"
		}
	}
	for _, c := range p.claims {
		mounts = append(mounts, c.name)
	}
	if len(mounts)+len(p.volumeClaims) > 0 {
		b.WriteString("          volumeMounts:\n")
		for _, m := range mounts {
			fmt.Fprintf(&b, "            - name: %s\n              mountPath: /mnt/%s\n%s", m, m, propagation[m])
		}
		for _, c := range p.volumeClaims {
			fmt.Fprintf(&b, "            {{- if %s }}\n            - name: %s\n              mountPath: /mnt/%s\n            {{- end }}\n", c.when, c.name, c.name)
		}
	}
	if len(p.hostPaths)+len(p.volumeClaims) > 0 {
		b.WriteString("      volumes:\n")
		for i, h := range p.hostPaths {
			fmt.Fprintf(&b, "        - name: host%d\n          hostPath:\n            path: %s\n", i, h)
		}
		for _, c := range p.volumeClaims {
			fmt.Fprintf(&b, "        {{- if %s }}\n        - name: %s\n          persistentVolumeClaim:\n            claimName: %s\n        {{- end }}\n", c.when, c.name, c.name)
		}
	}
	if len(p.claims) > 0 {
		b.WriteString("  volumeClaimTemplates:\n")
		for _, c := range p.claims {
			fmt.Fprintf(&b, "    - metadata:\n        name: %s\n      spec:\n        accessModes: [ReadWriteOnce]\n", c.name)
			if c.class != "" {
				fmt.Fprintf(&b, "        {{- with %s }}\n        storageClassName: {{ . }}\n        {{- end }}\n", c.class)
			}
			fmt.Fprintf(&b, "        resources:\n          requests:\n            storage: %s\n", c.size)
		}
	}
	if p.when != "" {
		b.WriteString("{{- end }}\n")
	}
	return b.String()
}

// podWithClaim adds p's template to file and, to claimFile, that of the
// PersistentVolumeClaim p mounts: both named p.name and made while when
// holds; class and size are template text as for pvc.
func (b *builder) podWithClaim(file, claimFile string, p pod, when, class, size string) {
	p.volumeClaims = []mountedClaim{{name: p.name, when: when}}
	b.template(file, p.render())
	b.template(claimFile, pvc(when, p.name, class, size))
}

// pvc renders a PersistentVolumeClaim whose class (template text, omitted
// when empty: the default class) and size come from values.
func pvc(when, name, class, size string) string {
	return fmt.Sprintf(`{{- if %s }}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: %s
spec:
  accessModes: [ReadWriteOnce]
  {{- with %s }}
  storageClassName: {{ . }}
  {{- end }}
  resources:
    requests:
      storage: %s
{{- end }}
`, when, name, class, size)
}

// service renders a Service of a type from values.
func service(when, name, typ string) string {
	return fmt.Sprintf(`{{- if %s }}
apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
  type: %s
  selector:
    app.kubernetes.io/name: %s
  ports:
    - port: 80
{{- end }}
`, when, name, typ, name)
}

// crds renders CRDs as a template gated by a value (charts that install
// CRDs from templates/ when a value says so).
func crds(when string, docs ...string) string {
	return fmt.Sprintf("{{- if %s }}\n%s{{- end }}\n", when, strings.Join(docs, "---\n"))
}

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }
