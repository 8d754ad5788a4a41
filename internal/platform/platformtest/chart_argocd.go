package platformtest

import chart "helm.sh/helm/v4/pkg/chart/v2"

// argoCD models the argo-cd chart: Argo CD's CRDs, its server, repo server
// and application controller.
func argoCD(version string) *chart.Chart {
	b := newChart("argo-cd", version)
	b.crd("application.yaml", crd("Application", "applications", "app", applicationColumns))
	b.crd("appproject.yaml", crd("AppProject", "appprojects", "appproj", ""))
	b.template("server.yaml", workload("Deployment", "argocd-server", "{{ .Values.server.replicas | default 1 }}"))
	b.template("repo-server.yaml", workload("Deployment", "argocd-repo-server", "1"))
	b.template("controller.yaml", workload("StatefulSet", "argocd-application-controller", "1"))
	b.values("server:\n  replicas: 1\n")
	return b.chart
}
