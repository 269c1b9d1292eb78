package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	remote "k8s.io/cri-client/pkg"
)

// runCRICleanup stops and removes every pod sandbox of a runtime through the
// CRI, so that containerd tears down each pod's network (CNI DEL: veth,
// host-local lease, portmap rules) and its network namespace the regular way.
func runCRICleanup(args []string) error {
	fs := flag.NewFlagSet("cri-cleanup", flag.ContinueOnError)
	endpoint := fs.String("runtime-endpoint", "", "unix:///PATH of the CRI socket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" {
		return errors.New("--runtime-endpoint is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := remote.NewRemoteRuntimeService(ctx, *endpoint, 10*time.Second, noop.NewTracerProvider(), false)
	if err != nil {
		return err
	}
	pods, err := rs.ListPodSandbox(ctx, nil)
	if err != nil {
		return err
	}
	var failed []error
	for _, p := range pods {
		if err := rs.StopPodSandbox(ctx, p.Id); err != nil {
			failed = append(failed, fmt.Errorf("stop %s/%s: %w", p.Metadata.Namespace, p.Metadata.Name, err))
			continue
		}
		if err := rs.RemovePodSandbox(ctx, p.Id); err != nil {
			failed = append(failed, fmt.Errorf("remove %s/%s: %w", p.Metadata.Namespace, p.Metadata.Name, err))
		}
	}
	fmt.Fprintf(os.Stderr, "kube-peer cri-cleanup: %d pod sandboxes stopped and removed\n", len(pods)-len(failed))
	return errors.Join(failed...)
}
