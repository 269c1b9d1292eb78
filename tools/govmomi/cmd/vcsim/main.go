// vcsim for the project's vSphere tests: govmomi's vCenter simulator (github.com/vmware/govmomi/
// simulator) with the VPX inventory (one datacenter, a cluster of hosts, a datastore, "VM
// Network"), served over HTTPS on the address given. govmomi's own vcsim main lives in a nested
// module the Go module proxy does not serve, so this is a small main of our own.
//
// It prints one line `GOVC_URL=https://user:pass@127.0.0.1:PORT/sdk` once it listens (so a
// caller can pass -l 127.0.0.1:0 and read the port), then serves until SIGINT/SIGTERM. With
// -log-nfc it logs each disk upload to stderr ("nfc PUT <file>: transferred N bytes"): the
// simulator keeps only a digest of what it receives, so the log is how a test sees the bytes arrive.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:0", "address to listen on (loopback; port 0 picks a free port)")
	hosts := flag.Int("host", 3, "hosts in the cluster")
	useTLS := flag.Bool("tls", true, "serve HTTPS with a self-signed certificate (govc -k)")
	logNFC := flag.Bool("log-nfc", false, "log disk uploads (and other simulator events) to stderr")
	flag.Parse()

	if *logNFC {
		// the simulator's event log goes to stderr; the SOAP bodies it would also dump are dropped
		devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vcsim: %v\n", err)
			os.Exit(1)
		}
		simulator.Trace = true
		simulator.TraceFile = devNull
	}

	model := simulator.VPX()
	model.Host = 0
	model.ClusterHost = *hosts
	// no VMs of the model's own: the test's VM is the only one, so inventory paths stay plain
	model.Machine = 0
	model.Autostart = false
	if err := model.Create(); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: create model: %v\n", err)
		os.Exit(1)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: *listen}
	if *useTLS {
		model.Service.TLS = new(tls.Config)
	}
	model.Service.RegisterEndpoints = true
	s := model.Service.NewServer()
	defer s.Close()

	fmt.Printf("GOVC_URL=%s\n", s.URL.String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
