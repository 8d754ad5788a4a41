// Command kubectl is the upstream kubectl, built from the Go module proxy at
// the test API server's version, so that scripts/try.sh can show the
// simulated cluster through the kubeconfig cto wrote.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}
