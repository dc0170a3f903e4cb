// Command scheduler is kube-scheduler (k8s.io/kubernetes/cmd/kube-scheduler/app,
// the real command, with its default profile and so the DynamicResources
// plugin) for the DRA scenarios. Run it as kube-scheduler:
//
//	scheduler --kubeconfig=ADMIN --leader-elect=false --secure-port=0
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	os.Exit(cli.Run(app.NewSchedulerCommand()))
}
