package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/k3s-io/kine/pkg/drivers/sqlite"
	"github.com/k3s-io/kine/pkg/endpoint"
	"github.com/spf13/cobra"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/component-base/version"
	apiapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	cmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxyapp "k8s.io/kubernetes/cmd/kube-proxy/app"
	schedapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
)

const (
	clusterCIDR = "10.42.0.0/16"
	serviceCIDR = "10.43.0.0/16"
	// first address of serviceCIDR: the "kubernetes" Service
	apiServiceIP = "10.43.0.1"
)

type serverOptions struct {
	dir              string
	apiPort          int
	nodeName         string
	nodeIP           string
	runtimeEndpoint  string
	noKubelet        bool
	cgroupRoot       string
	componentLogsDir string
}

func kubernetesVersion() string { return version.Get().GitVersion }

// ports of the other components are derived from the API port so that two
// peers (or a peer beside another cluster) never collide.
func (o serverOptions) port(offset int) string { return strconv.Itoa(o.apiPort + offset) }

func runServer(args []string) error {
	var o serverOptions
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", "", "data directory (the layout follows k3s: server/db/state.db, server/tls, agent/)")
	fs.IntVar(&o.apiPort, "api-port", 6443, "API server port; kubelet, controller-manager, scheduler and kube-proxy use the next 6 ports")
	fs.StringVar(&o.nodeName, "node-name", "kube-peer", "node name")
	fs.StringVar(&o.nodeIP, "node-ip", "", "node IP (default: the source address of the default route)")
	fs.StringVar(&o.runtimeEndpoint, "runtime-endpoint", "", "CRI endpoint of containerd, unix:///PATH (default: DIR/containerd/containerd.sock)")
	fs.BoolVar(&o.noKubelet, "no-kubelet", false, "run only the control plane (API server, controller-manager, scheduler)")
	fs.StringVar(&o.cgroupRoot, "cgroup-root", "", "cgroup under which the kubelet puts its pods (default: /kube-peer-<api port>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.dir == "" {
		return errors.New("--dir is required")
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	o.dir = dir
	if o.nodeIP == "" {
		ip, err := defaultRouteIP()
		if err != nil {
			return fmt.Errorf("no --node-ip and no default route to take it from: %w", err)
		}
		o.nodeIP = ip
	}
	if o.runtimeEndpoint == "" {
		o.runtimeEndpoint = "unix://" + filepath.Join(o.dir, "containerd", "containerd.sock")
	}
	if o.cgroupRoot == "" {
		o.cgroupRoot = "/kube-peer-" + strconv.Itoa(o.apiPort)
	}

	// Every component applies the logging configuration; in one process the
	// second and later identical applications must not be an error.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	files, err := prepare(o)
	if err != nil {
		return err
	}

	etcd, err := endpoint.Listen(ctx, endpoint.Config{
		Listener: "unix://" + filepath.Join(o.dir, "server", "kine.sock"),
		Endpoint: "sqlite://" + filepath.Join(o.dir, "server", "db", "state.db") + "?" + sqlite.DefaultParams,
		// kine's own command-line defaults; a zero NotifyInterval would poll without pause
		NotifyInterval:      5 * time.Second,
		PollInterval:        time.Second,
		EmulatedETCDVersion: "3.6.11",
		CompactTimeout:      5 * time.Second,
		CompactMinRetain:    1000,
		CompactBatchSize:    1000,
		PollBatchSize:       500,
	})
	if err != nil {
		return fmt.Errorf("kine: %w", err)
	}

	errs := make(chan error, 8)
	run := func(name string, command *cobra.Command, args []string) {
		command.SetArgs(args)
		go func() {
			err := command.ExecuteContext(ctx)
			if err == nil {
				err = errors.New("returned")
			}
			errs <- fmt.Errorf("%s exited: %w", name, err)
		}()
	}

	run("kube-apiserver", apiapp.NewAPIServerCommand(), apiserverArgs(o, etcd.Endpoints[0], files))
	if err := waitReady(ctx, o, files, errs); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kube-peer: API server ready at https://127.0.0.1:%d\n", o.apiPort)
	// NewAPIServerCommand took the one signal handler while being built; see signals.go
	rearmSignalHandler()
	run("kube-scheduler", schedapp.NewSchedulerCommand(), schedulerArgs(o, files))
	if err := waitSignalHandlerTaken("kube-scheduler", 30*time.Second, errs); err != nil {
		return err
	}
	if !o.noKubelet {
		run("kubelet", kubeletapp.NewKubeletCommand(ctx), kubeletArgs(o, files))
		if err := waitSignalHandlerTaken("kubelet", 60*time.Second, errs); err != nil {
			return err
		}
		run("kube-proxy", proxyapp.NewProxyCommand(), []string{"--config=" + files.proxyConfig})
	}
	// last: it takes the signal handler only behind a feature gate, so nothing may follow it
	run("kube-controller-manager", cmapp.NewControllerManagerCommand(), controllerManagerArgs(o, files))

	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "kube-peer: stopping")
		return nil
	case err := <-errs:
		return err
	}
}

type peerFiles struct {
	tls, ca, saKey                   string
	admin, controller, scheduler     string
	kubelet, proxy                   string
	kubeletConfig, proxyConfig       string
	apiserverCert, apiserverKey      string
	kubeletClientCert, kubeletClient string
}

// prepare writes certificates, kubeconfigs and component configuration.
func prepare(o serverOptions) (peerFiles, error) {
	server := filepath.Join(o.dir, "server")
	tlsDir := filepath.Join(server, "tls")
	cred := filepath.Join(server, "cred")
	agent := filepath.Join(o.dir, "agent")
	for _, d := range []string{filepath.Join(server, "db"), tlsDir, cred, agent} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return peerFiles{}, err
		}
	}
	ca, err := loadOrCreateAuthority(tlsDir)
	if err != nil {
		return peerFiles{}, err
	}
	nodeIP := net.ParseIP(o.nodeIP)
	if nodeIP == nil {
		return peerFiles{}, fmt.Errorf("--node-ip %q is not an IP", o.nodeIP)
	}
	loopback := net.ParseIP("127.0.0.1")
	specs := []certSpec{
		{name: "serving-kube-apiserver", cn: "kube-apiserver", server: true,
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips: []net.IP{loopback, nodeIP, net.ParseIP(apiServiceIP)}},
		{name: "serving-kubelet", cn: o.nodeName, server: true, dns: []string{o.nodeName, "localhost"}, ips: []net.IP{loopback, nodeIP}},
		{name: "client-admin", cn: "system:admin", orgs: []string{"system:masters"}},
		{name: "client-kube-apiserver", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}},
		{name: "client-controller", cn: "system:kube-controller-manager"},
		{name: "client-scheduler", cn: "system:kube-scheduler"},
		{name: "client-kubelet", cn: "system:node:" + o.nodeName, orgs: []string{"system:nodes"}},
		{name: "client-kube-proxy", cn: "system:kube-proxy"},
	}
	for _, s := range specs {
		if err := ca.issue(tlsDir, s); err != nil {
			return peerFiles{}, fmt.Errorf("certificate %s: %w", s.name, err)
		}
	}
	f := peerFiles{
		tls:               tlsDir,
		ca:                filepath.Join(tlsDir, "ca.crt"),
		saKey:             filepath.Join(tlsDir, "service.key"),
		apiserverCert:     filepath.Join(tlsDir, "serving-kube-apiserver.crt"),
		apiserverKey:      filepath.Join(tlsDir, "serving-kube-apiserver.key"),
		kubeletClientCert: filepath.Join(tlsDir, "client-kube-apiserver.crt"),
		kubeletClient:     filepath.Join(tlsDir, "client-kube-apiserver.key"),
		admin:             filepath.Join(cred, "admin.kubeconfig"),
		controller:        filepath.Join(cred, "controller.kubeconfig"),
		scheduler:         filepath.Join(cred, "scheduler.kubeconfig"),
		kubelet:           filepath.Join(agent, "kubelet.kubeconfig"),
		proxy:             filepath.Join(agent, "kubeproxy.kubeconfig"),
		kubeletConfig:     filepath.Join(agent, "kubelet.yaml"),
		proxyConfig:       filepath.Join(agent, "kube-proxy.yaml"),
	}
	if err := ensureServiceAccountKey(f.saKey); err != nil {
		return peerFiles{}, err
	}
	url := "https://127.0.0.1:" + strconv.Itoa(o.apiPort)
	for path, stem := range map[string]string{
		f.admin: "client-admin", f.controller: "client-controller", f.scheduler: "client-scheduler",
		f.kubelet: "client-kubelet", f.proxy: "client-kube-proxy",
	} {
		content := kubeconfig(url, f.ca, filepath.Join(tlsDir, stem+".crt"), filepath.Join(tlsDir, stem+".key"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return peerFiles{}, err
		}
	}
	if err := os.WriteFile(f.kubeletConfig, []byte(kubeletConfig(o, f)), 0o600); err != nil {
		return peerFiles{}, err
	}
	if err := os.WriteFile(f.proxyConfig, []byte(proxyConfig(o, f)), 0o600); err != nil {
		return peerFiles{}, err
	}
	return f, nil
}

func apiserverArgs(o serverOptions, etcd string, f peerFiles) []string {
	return []string{
		"--etcd-servers=" + etcd,
		"--storage-backend=etcd3",
		"--bind-address=0.0.0.0",
		"--secure-port=" + strconv.Itoa(o.apiPort),
		"--advertise-address=" + o.nodeIP,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-node-port-range=30000-32767",
		"--allow-privileged=true",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--anonymous-auth=true",
		"--profiling=false",
		"--client-ca-file=" + f.ca,
		"--tls-cert-file=" + f.apiserverCert,
		"--tls-private-key-file=" + f.apiserverKey,
		"--kubelet-certificate-authority=" + f.ca,
		"--kubelet-client-certificate=" + f.kubeletClientCert,
		"--kubelet-client-key=" + f.kubeletClient,
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f.saKey,
		"--service-account-signing-key-file=" + f.saKey,
		"--cert-dir=" + filepath.Join(f.tls, "temporary-certs"),
		"--endpoint-reconciler-type=lease",
	}
}

func controllerManagerArgs(o serverOptions, f peerFiles) []string {
	return []string{
		"--kubeconfig=" + f.controller,
		"--authentication-kubeconfig=" + f.controller,
		"--authorization-kubeconfig=" + f.controller,
		"--bind-address=127.0.0.1",
		"--secure-port=" + o.port(3),
		"--leader-elect=false",
		"--profiling=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + f.saKey,
		"--root-ca-file=" + f.ca,
		"--cluster-signing-cert-file=" + f.ca,
		"--cluster-signing-key-file=" + filepath.Join(f.tls, "ca.key"),
		"--allocate-node-cidrs=true",
		"--cluster-cidr=" + clusterCIDR,
		"--node-cidr-mask-size=24",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--configure-cloud-routes=false",
		"--controllers=*,tokencleaner",
		"--cert-dir=" + filepath.Join(f.tls, "temporary-certs"),
	}
}

func schedulerArgs(o serverOptions, f peerFiles) []string {
	return []string{
		"--kubeconfig=" + f.scheduler,
		"--authentication-kubeconfig=" + f.scheduler,
		"--authorization-kubeconfig=" + f.scheduler,
		"--bind-address=127.0.0.1",
		"--secure-port=" + o.port(4),
		"--leader-elect=false",
		"--profiling=false",
	}
}

func kubeletArgs(o serverOptions, f peerFiles) []string {
	return []string{
		"--config=" + f.kubeletConfig,
		"--kubeconfig=" + f.kubelet,
		"--root-dir=" + filepath.Join(o.dir, "agent", "kubelet"),
		"--hostname-override=" + o.nodeName,
		"--node-ip=" + o.nodeIP,
		"--node-labels=node.kubernetes.io/instance-type=kube-peer",
	}
}

// kubeletConfig: this machine has cgroup v1 (a hybrid hierarchy with no
// controllers on the unified tree), which a kubelet >= 1.35 refuses unless
// failCgroupV1 is false. Eviction and image GC thresholds are set so that a
// busy build machine's disk does not evict test pods or the imported images.
func kubeletConfig(o serverOptions, f peerFiles) string {
	tlsDir := f.tls
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]s
tlsCertFile: %[4]s/serving-kubelet.crt
tlsPrivateKeyFile: %[4]s/serving-kubelet.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[5]s
authorization:
  mode: Webhook
containerRuntimeEndpoint: %[6]s
cgroupDriver: cgroupfs
cgroupRoot: %[7]s
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
resolvConf: %[8]s
podLogsDir: %[9]s
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
evictionPressureTransitionPeriod: 5s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
shutdownGracePeriod: 0s
`, o.nodeIP, o.port(1), o.port(2), tlsDir, f.ca, o.runtimeEndpoint, o.cgroupRoot,
		resolvConf(o), filepath.Join(o.dir, "agent", "pod-logs"))
}

// resolvConf gives pods the host's resolver file, or an empty one.
func resolvConf(o serverOptions) string {
	if _, err := os.Stat("/etc/resolv.conf"); err == nil {
		return "/etc/resolv.conf"
	}
	path := filepath.Join(o.dir, "agent", "resolv.conf")
	_ = os.WriteFile(path, nil, 0o644)
	return path
}

func proxyConfig(o serverOptions, f peerFiles) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
healthzBindAddress: 127.0.0.1:%s
metricsBindAddress: 127.0.0.1:%s
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  syncPeriod: 5s
  minSyncPeriod: 0s
`, f.proxy, o.nodeName, clusterCIDR, o.port(5), o.port(6))
}

// waitReady polls /readyz with the admin certificate until the API server
// answers ok, or a component fails, or the context ends.
func waitReady(ctx context.Context, o serverOptions, f peerFiles, errs <-chan error) error {
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(f.tls, "client-admin.crt"), filepath.Join(f.tls, "client-admin.key"))
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
	url := fmt.Sprintf("https://127.0.0.1:%d/readyz", o.apiPort)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case <-tick.C:
		}
	}
}

// defaultRouteIP is the first IPv4 address of the interface that carries the
// default route (read from /proc/net/route; nothing is sent).
func defaultRouteIP() (string, error) {
	raw, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[1] != "00000000" {
			continue
		}
		iface, err := net.InterfaceByName(fields[0])
		if err != nil {
			return "", err
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return "", err
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String(), nil
			}
		}
	}
	return "", errors.New("no default route with an IPv4 address")
}
