// Command pause is the sandbox ("pause") container of the kube-peer's
// containerd: PID 1 of each pod, it holds the pod's namespaces, reaps
// orphaned children and exits on SIGTERM/SIGINT. No registry is reachable, so
// the peer builds this image itself.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s == syscall.SIGCHLD {
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
