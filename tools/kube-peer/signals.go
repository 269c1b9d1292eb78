package main

import (
	"fmt"
	"time"
	_ "unsafe" // go:linkname

	_ "k8s.io/apiserver/pkg/server"
)

// Each component (apiserver, scheduler, kubelet, and the controller-manager behind a feature
// gate) calls k8s.io/apiserver's SetupSignalContext, which closes a package-level channel and so
// panics on a second call in one process. k3s patches this in its fork; here the channel is
// re-armed between components, which are started one after the other for that reason. Every
// component's context still ends on SIGTERM: each call registers its own signal channel.
//
//go:linkname onlyOneSignalHandler k8s.io/apiserver/pkg/server.onlyOneSignalHandler
var onlyOneSignalHandler chan struct{}

func signalHandlerTaken() bool {
	select {
	case <-onlyOneSignalHandler:
		return true
	default:
		return false
	}
}

func rearmSignalHandler() { onlyOneSignalHandler = make(chan struct{}) }

// waitSignalHandlerTaken waits until the component just started has set up its signal context.
func waitSignalHandlerTaken(name string, timeout time.Duration, errs <-chan error) error {
	deadline := time.Now().Add(timeout)
	for !signalHandlerTaken() {
		select {
		case err := <-errs:
			return err
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not set up its signal handler within %s", name, timeout)
		}
	}
	rearmSignalHandler()
	return nil
}
