// Package certmanager is a test double of cert-manager (v1.21.1) for what
// decides health with a self-signed issuer: the Ready condition of
// self-signed Issuers and ClusterIssuers, the Certificates its
// ingress-shim makes for annotated Ingresses, and the kubernetes.io/tls
// Secret and Ready condition of each Certificate a self-signed issuer
// signs. Each rule names the file of github.com/cert-manager/cert-manager
// it follows. An ACME issuer is Ready once its server's directory answers
// as an ACME directory (the account registration is not modelled); its
// Certificates are left alone, as they need the ACME server to sign.
package certmanager

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cto-platform/cto/test/controllers/kubeclients"
)

// Interval is how often the double looks.
var Interval = 200 * time.Millisecond

// cert-manager's resources (pkg/apis/certmanager/v1).
var (
	certificates   = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	issuers        = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}
	clusterIssuers = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "clusterissuers"}
)

// Annotations and defaults (pkg/apis/certmanager/v1/types.go, const.go).
const (
	clusterIssuerAnnotation = "cert-manager.io/cluster-issuer"
	issuerAnnotation        = "cert-manager.io/issuer"
	certificateNameKey      = "cert-manager.io/certificate-name"
	issuerNameKey           = "cert-manager.io/issuer-name"
	issuerKindKey           = "cert-manager.io/issuer-kind"
	issuerGroupKey          = "cert-manager.io/issuer-group"
	altNamesKey             = "cert-manager.io/alt-names"
	commonNameKey           = "cert-manager.io/common-name"
	defaultDuration         = 90 * 24 * time.Hour
	group                   = "cert-manager.io"
)

// Run reconciles until ctx ends, writing only what changes.
func Run(ctx context.Context, cfg *rest.Config) {
	kc, dyn, err := kubeclients.New(cfg)
	if err != nil {
		return
	}
	d := &double{kc: kc, dyn: dyn, acme: map[string]acmeTry{}}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		d.issuers(ctx)
		d.ingressShim(ctx)
		d.certificates(ctx)
	}, Interval)
}

type double struct {
	kc  kubernetes.Interface
	dyn dynamic.Interface
	// acme is the last registration outcome per ACME server and when it
	// was tried (retried every 10 s, as a failed one is requeued).
	acme map[string]acmeTry
}

type acmeTry struct {
	err error
	at  time.Time
}

// issuers: a self-signed issuer is Ready as soon as it exists
// (pkg/issuer/selfsigned/setup.go: Ready True, reason IsReady, no message).
func (d *double) issuers(ctx context.Context) {
	for _, gvr := range []schema.GroupVersionResource{clusterIssuers, issuers} {
		list, err := d.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range list.Items {
			iss := &list.Items[i]
			if _, self, _ := unstructured.NestedMap(iss.Object, "spec", "selfSigned"); self {
				if setCondition(iss, "Ready", "True", "IsReady", "") {
					d.updateStatus(ctx, gvr, iss)
				}
				continue
			}
			if server, acme, _ := unstructured.NestedString(iss.Object, "spec", "acme", "server"); acme {
				// pkg/issuer/acme/setup.go: registered, Ready True
				// ACMEAccountRegistered; else Ready False
				// ErrRegisterACMEAccount.
				status, reason, msg := "True", "ACMEAccountRegistered", "The ACME account was registered with the ACME server"
				try, ok := d.acme[server]
				if !ok || (try.err != nil && time.Since(try.at) > 10*time.Second) {
					try = acmeTry{err: acmeDirectory(ctx, server), at: time.Now()}
					d.acme[server] = try
				}
				if err := try.err; err != nil {
					status, reason, msg = "False", "ErrRegisterACMEAccount", "Failed to register ACME account: "+err.Error()
				}
				if setCondition(iss, "Ready", status, reason, msg) {
					d.updateStatus(ctx, gvr, iss)
				}
			}
		}
	}
}

// ingressShim makes a Certificate for each TLS entry of an Ingress
// annotated with an issuer, named after its secret, for its hosts, owned
// by the Ingress (pkg/controller/certificate-shim/sync.go buildCertificates);
// it updates one it owns that differs and leaves others alone.
func (d *double) ingressShim(ctx context.Context) {
	ings, err := d.kc.NetworkingV1().Ingresses(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, ing := range ings.Items {
		name, kind := ing.Annotations[clusterIssuerAnnotation], "ClusterIssuer"
		if name == "" {
			name, kind = ing.Annotations[issuerAnnotation], "Issuer"
		}
		if name == "" {
			continue
		}
		for _, tls := range ing.Spec.TLS {
			if tls.SecretName == "" {
				continue // sync.go: a TLS entry without a secret name is an error event
			}
			hosts := make([]any, 0, len(tls.Hosts))
			for _, h := range tls.Hosts {
				hosts = append(hosts, h)
			}
			spec := map[string]any{
				"dnsNames":   hosts,
				"secretName": tls.SecretName,
				"issuerRef":  map[string]any{"name": name, "kind": kind, "group": group},
			}
			owner := map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": ing.Name, "uid": string(ing.UID), "controller": true, "blockOwnerDeletion": true}
			res := d.dyn.Resource(certificates).Namespace(ing.Namespace)
			cur, err := res.Get(ctx, tls.SecretName, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				crt := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
					"metadata": map[string]any{"name": tls.SecretName, "namespace": ing.Namespace, "ownerReferences": []any{owner}},
					"spec":     spec,
				}}
				if len(ing.Labels) > 0 {
					crt.SetLabels(ing.Labels)
				}
				_, _ = res.Create(ctx, crt, metav1.CreateOptions{})
			case err != nil:
			default:
				if !ownedBy(cur, string(ing.UID)) {
					continue // sync.go: not owned by this object, refusing to update
				}
				old, _, _ := unstructured.NestedMap(cur.Object, "spec")
				if equalSpec(old, spec) {
					continue
				}
				for k, v := range spec {
					old[k] = v
				}
				cur.Object["spec"] = old
				_, _ = res.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	}
}

func ownedBy(obj *unstructured.Unstructured, uid string) bool {
	for _, o := range obj.GetOwnerReferences() {
		if string(o.UID) == uid && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

func equalSpec(old, want map[string]any) bool {
	for k, v := range want {
		if !reflect.DeepEqual(old[k], v) {
			return false
		}
	}
	return true
}

// certificates issues every Certificate whose issuer is a Ready
// self-signed one and whose Secret is missing or does not match it
// (pkg/controller/certificates/trigger/policies), writes the Secret
// (issuing/internal/secret.go: type kubernetes.io/tls, tls.crt, tls.key,
// ca.crt, the certificate's annotations) and marks it Ready
// (readiness/readiness_controller.go).
func (d *double) certificates(ctx context.Context) {
	list, err := d.dyn.Resource(certificates).Namespace(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.Items {
		crt := &list.Items[i]
		ref, _, _ := unstructured.NestedStringMap(crt.Object, "spec", "issuerRef")
		kind := ref["kind"]
		if kind == "" {
			kind = "Issuer" // the API's default issuerRef kind
		}
		if g := ref["group"]; g != "" && g != group {
			continue // an external issuer
		}
		iss, err := d.issuer(ctx, crt.GetNamespace(), ref["name"], kind)
		if err != nil {
			continue
		}
		if _, self, _ := unstructured.NestedMap(iss.Object, "spec", "selfSigned"); !self || !isReady(iss) {
			continue
		}
		secretName, _, _ := unstructured.NestedString(crt.Object, "spec", "secretName")
		dnsNames, _, _ := unstructured.NestedStringSlice(crt.Object, "spec", "dnsNames")
		commonName, _, _ := unstructured.NestedString(crt.Object, "spec", "commonName")
		sec, err := d.kc.CoreV1().Secrets(crt.GetNamespace()).Get(ctx, secretName, metav1.GetOptions{})
		missing := apierrors.IsNotFound(err)
		if err != nil && !missing {
			continue
		}
		if !missing && upToDate(sec, crt.GetName(), dnsNames, commonName) {
			d.ready(ctx, crt, sec)
			continue
		}
		certPEM, keyPEM, err := selfSign(crt, dnsNames, commonName)
		if err != nil {
			continue
		}
		want := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: crt.GetNamespace(), Annotations: map[string]string{
				certificateNameKey: crt.GetName(), issuerNameKey: ref["name"], issuerKindKey: kind, issuerGroupKey: group,
				altNamesKey: strings.Join(dnsNames, ","), commonNameKey: commonName,
			}},
			Type: corev1.SecretTypeTLS,
			// A self-signed certificate is its own CA
			// (certificaterequests/selfsigned/selfsigned.go).
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM, "ca.crt": certPEM},
		}
		if missing {
			sec, err = d.kc.CoreV1().Secrets(want.Namespace).Create(ctx, want, metav1.CreateOptions{})
		} else {
			want.ResourceVersion = sec.ResourceVersion
			if sec.Type != corev1.SecretTypeTLS {
				// A Secret's type cannot change: replace it.
				_ = d.kc.CoreV1().Secrets(want.Namespace).Delete(ctx, want.Name, metav1.DeleteOptions{})
				want.ResourceVersion = ""
				sec, err = d.kc.CoreV1().Secrets(want.Namespace).Create(ctx, want, metav1.CreateOptions{})
			} else {
				sec, err = d.kc.CoreV1().Secrets(want.Namespace).Update(ctx, want, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			continue
		}
		rev, _, _ := unstructured.NestedInt64(crt.Object, "status", "revision")
		_ = unstructured.SetNestedField(crt.Object, rev+1, "status", "revision")
		d.ready(ctx, crt, sec)
	}
}

func (d *double) issuer(ctx context.Context, ns, name, kind string) (*unstructured.Unstructured, error) {
	if kind == "ClusterIssuer" {
		return d.dyn.Resource(clusterIssuers).Get(ctx, name, metav1.GetOptions{})
	}
	return d.dyn.Resource(issuers).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
}

// upToDate: the Secret holds a certificate of this Certificate for its
// names (trigger/policies: SecretIsMissingData, SecretPublicKeysDiffer,
// CurrentCertificateNearingExpiry, SecretDNSNamesMismatch ...).
func upToDate(sec *corev1.Secret, name string, dnsNames []string, commonName string) bool {
	if sec.Type != corev1.SecretTypeTLS || sec.Annotations[certificateNameKey] != name {
		return false
	}
	block, _ := pem.Decode(sec.Data[corev1.TLSCertKey])
	if block == nil || len(sec.Data[corev1.TLSPrivateKeyKey]) == 0 {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || time.Until(cert.NotAfter) < cert.NotAfter.Sub(cert.NotBefore)/3 {
		return false
	}
	got, want := slices.Clone(cert.DNSNames), slices.Clone(dnsNames)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want) && cert.Subject.CommonName == commonName
}

// ready sets the Certificate's status from its certificate: Ready True,
// reason Ready, "Certificate is up to date and has not expired"
// (readiness_controller.go), notBefore, notAfter and the renewal time a
// third of the duration before expiry (pkg/util/pki/renewaltime.go).
func (d *double) ready(ctx context.Context, crt *unstructured.Unstructured, sec *corev1.Secret) {
	block, _ := pem.Decode(sec.Data[corev1.TLSCertKey])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return
	}
	changed := setCondition(crt, "Ready", "True", "Ready", "Certificate is up to date and has not expired")
	for k, v := range map[string]string{
		"notBefore":   cert.NotBefore.UTC().Format(time.RFC3339),
		"notAfter":    cert.NotAfter.UTC().Format(time.RFC3339),
		"renewalTime": cert.NotAfter.Add(-cert.NotAfter.Sub(cert.NotBefore) / 3).UTC().Format(time.RFC3339),
	} {
		if cur, _, _ := unstructured.NestedString(crt.Object, "status", k); cur != v {
			_ = unstructured.SetNestedField(crt.Object, v, "status", k)
			changed = true
		}
	}
	if rev, ok, _ := unstructured.NestedInt64(crt.Object, "status", "revision"); !ok || rev == 0 {
		_ = unstructured.SetNestedField(crt.Object, int64(1), "status", "revision")
		changed = true
	}
	if changed {
		d.updateStatus(ctx, certificates, crt)
	}
}

func (d *double) updateStatus(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) {
	r := d.dyn.Resource(gvr)
	if obj.GetNamespace() != "" {
		_, _ = r.Namespace(obj.GetNamespace()).UpdateStatus(ctx, obj, metav1.UpdateOptions{})
		return
	}
	_, _ = r.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
}

// setCondition sets a condition as cert-manager's apiutil does (the
// transition time changes only with the status) and reports a change.
func setCondition(obj *unstructured.Unstructured, typ, status, reason, message string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	want := map[string]any{"type": typ, "status": status, "reason": reason, "message": message, "observedGeneration": obj.GetGeneration()}
	for i, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != typ {
			continue
		}
		if m["status"] == status && m["reason"] == reason && m["message"] == message && m["observedGeneration"] == obj.GetGeneration() {
			return false
		}
		want["lastTransitionTime"] = m["lastTransitionTime"]
		if m["status"] != status {
			want["lastTransitionTime"] = metav1.Now().UTC().Format(time.RFC3339)
		}
		conds[i] = want
		_ = unstructured.SetNestedSlice(obj.Object, conds, "status", "conditions")
		return true
	}
	want["lastTransitionTime"] = metav1.Now().UTC().Format(time.RFC3339)
	_ = unstructured.SetNestedSlice(obj.Object, append(conds, want), "status", "conditions")
	return true
}

func isReady(obj *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// selfSign makes a key of the Certificate's privateKey algorithm (RSA 2048
// by default, ECDSA P-256; pkg/util/pki/generate.go) and a certificate for
// its names signed by that key, valid for spec.duration (90 days by
// default) with the default usages "digital signature, key encipherment".
func selfSign(crt *unstructured.Unstructured, dnsNames []string, commonName string) (certPEM, keyPEM []byte, err error) {
	alg, _, _ := unstructured.NestedString(crt.Object, "spec", "privateKey", "algorithm")
	// The default key encoding is PKCS1 (pkg/util/pki/keys.go
	// EncodePrivateKey): "RSA PRIVATE KEY", or SEC1 "EC PRIVATE KEY".
	var key, pub any
	var keyBlock *pem.Block
	switch alg {
	case "ECDSA":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, nil, err
		}
		key, pub, keyBlock = k, &k.PublicKey, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		key, pub, keyBlock = k, &k.PublicKey, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	}
	duration := defaultDuration
	if s, ok, _ := unstructured.NestedString(crt.Object, "spec", "duration"); ok {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			duration = d
		}
	}
	isCA, _, _ := unstructured.NestedBool(crt.Object, "spec", "isCA")
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: commonName}, DNSNames: dnsNames,
		NotBefore: now, NotAfter: now.Add(duration),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, BasicConstraintsValid: true, IsCA: isCA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, pub, key)
	if err != nil {
		return nil, nil, err
	}
	var c, k bytes.Buffer
	_ = pem.Encode(&c, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	_ = pem.Encode(&k, keyBlock)
	return c.Bytes(), k.Bytes(), nil
}

// acmeDirectory checks that server answers an ACME directory (RFC 8555
// section 7.1.1: a JSON object naming newAccount).
func acmeDirectory(ctx context.Context, server string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var dir struct {
		NewAccount string `json:"newAccount"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&dir); err != nil || resp.StatusCode != http.StatusOK || dir.NewAccount == "" {
		return fmt.Errorf("%s is not an ACME directory (%s)", server, resp.Status)
	}
	return nil
}
