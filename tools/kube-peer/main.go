// Command kube-peer is a single-node Kubernetes for tests: kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet and kube-proxy of one pinned
// release run in one process on a kine (SQLite) datastore, the way k3s embeds
// them. The same binary is kubectl (as a subcommand, or when called as
// "kubectl") so client and server are always the same version.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
	proxyapp "k8s.io/kubernetes/cmd/kube-proxy/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
)

const usage = `usage:
  kube-peer server --dir DIR [--api-port N] [--node-name NAME] [--node-ip IP]
  kube-peer kubectl ARGS...       (also when the binary is called as kubectl)
  kube-peer cri-cleanup --runtime-endpoint unix:///PATH
  kube-peer kube-proxy ARGS...    (e.g. --cleanup to remove its iptables rules)
  kube-peer version
`

func main() {
	if filepath.Base(os.Args[0]) == "kubectl" {
		os.Exit(runKubectl(os.Args))
	}
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		if err := runServer(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "kube-peer server: %v\n", err)
			os.Exit(1)
		}
	case "kubectl":
		os.Exit(runKubectl(append([]string{"kubectl"}, os.Args[2:]...)))
	case "cri-cleanup":
		if err := runCRICleanup(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "kube-peer cri-cleanup: %v\n", err)
			os.Exit(1)
		}
	case "kube-proxy":
		command := proxyapp.NewProxyCommand()
		command.SetArgs(os.Args[2:])
		os.Exit(cli.Run(command))
	case "version":
		fmt.Println(kubernetesVersion())
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
}

func runKubectl(args []string) int {
	os.Args = args
	// kubectl reads its verbosity before flag parsing (as upstream's main does).
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
		return 1
	}
	return 0
}
