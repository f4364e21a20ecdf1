// Command vcsim serves a simulated vCenter (govmomi's simulator) holding
// exactly the lab described by a topology file:
//
//	vcsim -listen 127.0.0.1:0 -topology lab.json
//
// It prints the SDK URL as the first line on stdout once the world is built
// and the server is accepting; everything else goes to stderr. Beside /sdk it
// serves GET /topology and POST /chaos (fault injection); see
// docs/simulator.md. SIGTERM or
// SIGINT stops it with exit status 0. A bad command line or topology exits
// with status 2, any other failure with 1.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2

	// shutdownTimeout bounds the wait for open requests on shutdown: the
	// simulator's WaitForUpdatesEx long poll ignores a closed connection.
	shutdownTimeout = 3 * time.Second
)

type options struct {
	listen   string // validated IP:PORT
	topology string
	dataDir  string         // parent of the run's data directory; "" picks one
	login    *url.Userinfo  // the only accepted credentials; nil accepts any non-empty pair
	tls      bool           // serve https with the simulator's self-signed test certificate
	probes   bool           // open probe listeners on the lab's loopback addresses
	adminURL *url.URL       // simulator holding the VMs behind nested hosts; nil if none
	delays   map[string]int // SOAP method name -> milliseconds to wait before serving it
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// Catch signals first, so that a stop at any point of the start-up
	// (which takes seconds for large topologies) exits 0.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	// A parent that went away leaves stdout/stderr as broken pipes; without
	// this the next log line would kill the process before it cleans up.
	signal.Ignore(syscall.SIGPIPE)
	log.SetFlags(0)
	log.SetPrefix("vcsim: ")
	opts, err := parseOptions(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		log.Print(err)
		return exitUsage
	}
	topo, err := loadTopology(opts.topology)
	if err == nil {
		err = checkRemoteBacking(topo, opts.adminURL)
	}
	if err != nil {
		log.Print(err)
		return exitUsage
	}
	return serve(opts, topo, signals)
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("vcsim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback `IP:PORT` to serve on; port 0 picks a free port")
	topology := fs.String("topology", "", "topology JSON `file` (required)")
	dataDir := fs.String("data-dir", "", "`directory` for the simulator's VM files (default: /dev/shm if it has room, else $TMPDIR)")
	username := fs.String("username", "", "accept only this `user` (with -password); default: any non-empty user and password")
	password := fs.String("password", "", "the only accepted `password` (with -username)")
	useTLS := fs.Bool("tls", false, "serve https with a self-signed certificate instead of plain http")
	probes := fs.Bool("probes", true, "make live host and VM addresses answer TCP probes on loopback (false: no listeners)")
	adminURL := fs.String("admin-url", "", "`URL` (http://127.0.0.1:PORT/sdk) of a simulator holding the VMs behind nested hosts")
	delays := fs.String("method-delay", "", "`METHOD=MS,...`: serve these SOAP methods MS milliseconds late (e.g. PowerOnVM_Task=2000), to test clients that die mid-call")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *topology == "" {
		return options{}, errors.New("-topology is required")
	}
	addr, err := loopbackListenAddr(*listen)
	if err != nil {
		return options{}, err
	}
	if (*username == "") != (*password == "") {
		return options{}, errors.New("-username and -password go together")
	}
	opts := options{listen: addr, topology: *topology, dataDir: *dataDir, tls: *useTLS, probes: *probes}
	if opts.delays, err = parseMethodDelays(*delays); err != nil {
		return options{}, err
	}
	if *username != "" {
		opts.login = url.UserPassword(*username, *password)
	}
	if *adminURL != "" {
		if opts.adminURL, err = parseAdminURL(*adminURL); err != nil {
			return options{}, err
		}
	}
	return opts, nil
}

// serve builds the world, serves it until a signal arrives and cleans up.
func serve(opts options, topo *Topology, signals <-chan os.Signal) int {
	_, vms := topo.counts()
	dataDir, err := os.MkdirTemp(dataDirParent(opts.dataDir, vms), "vcsim-")
	if err != nil {
		log.Print(err)
		return exitFailure
	}
	defer os.RemoveAll(dataDir)
	log.Printf("simulator files in %s", dataDir)

	world, err := buildUnlessSignalled(topo, dataDir, signals)
	if errors.Is(err, errStopped) {
		return exitOK
	}
	if err != nil {
		log.Print(err)
		return exitFailure
	}
	startLab(world, opts)
	defer world.Lab.close()
	server, err := startServer(world, opts)
	if err != nil {
		log.Print(err)
		return exitFailure
	}
	fmt.Println(sdkURL(server)) // os.Stdout is unbuffered: no flush needed
	sig := <-signals
	log.Printf("%s: shutting down", sig)
	stopServer(server)
	return exitOK
}

// startLab adds to the built world what the stock simulator lacks: the
// AlarmManager, host reconnection, real-time performance samples only for
// running VMs, and the failure model behind /chaos, the probe listeners and
// the nested hosts.
func startLab(world *World, opts options) {
	var probes *probeListeners
	if opts.probes {
		raiseFileLimit()
		probes = newProbeListeners()
	}
	alarms := installAlarmManager(world.Model.ServiceContent)
	installPerformanceManager(world.Model.ServiceContent)
	world.Lab = newLab(world, probes)
	simulator.HostConnection = world.Lab
	simulator.VMQuestions = world.Lab
	simulator.VMPlacement = vmPlacement{}
	simulator.HostAdding = newHostAdder(world.Lab)
	world.Lab.start(alarms)
	if opts.adminURL != nil && world.Lab.hasRemoteBacking() {
		world.Lab.admin = startAdminMonitor(world.Lab, opts.adminURL)
	}
}

// errStopped reports a signal received during start-up.
var errStopped = errors.New("stopped by a signal")

// buildUnlessSignalled builds the world, giving up with errStopped if a
// signal arrives first.
func buildUnlessSignalled(topo *Topology, dataDir string, signals <-chan os.Signal) (*World, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		world *World
		err   error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		w, err := buildWorld(ctx, topo, dataDir)
		done <- result{w, err}
	}()
	select {
	case sig := <-signals:
		log.Printf("%s during start-up: exiting", sig)
		cancel()
		<-done // the builder stops at the next VM; then its files can go
		return nil, errStopped
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("building the world: %w", r.err)
		}
		hosts, vms := topo.counts()
		log.Printf("built %d datacenters, %d hosts, %d VMs in %.2fs",
			len(topo.Datacenters), hosts, vms, time.Since(start).Seconds())
		return r.world, nil
	}
}

// startServer serves the world on the listen address (plain http unless -tls),
// with the extra routes beside /sdk.
func startServer(world *World, opts options) (server *simulator.Server, err error) {
	addr := opts.listen
	service := world.Model.Service
	service.Listen = &url.URL{Host: addr, User: opts.login}
	service.ServeMux = newServeMux(world)
	service.RegisterEndpoints = true // /rest: the vAPI session and tagging service (tagging.go)
	// The model's Service points at this config since Create; the build is
	// over, so only clients' calls are delayed.
	world.Model.DelayConfig.MethodDelay = opts.delays
	if opts.tls {
		service.TLS = new(tls.Config)
	}
	defer func() {
		// NewServer panics (httptest style) when it cannot listen, e.g. when
		// the port is in use.
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot serve on %s: %v", addr, r)
		}
	}()
	server = service.NewServer()
	// Before the first request: the lab answers a few SOAP calls itself.
	server.Config.Handler = &soapOverrides{lab: world.Lab, next: server.Config.Handler}
	server.Config.Handler = &restLogin{login: opts.login, next: server.Config.Handler}
	return server, nil
}

// sdkURL is the server's URL without the user info the simulator adds.
func sdkURL(server *simulator.Server) string {
	u := *server.URL
	u.User = nil
	return u.String()
}

func stopServer(server *simulator.Server) {
	done := make(chan struct{})
	go func() {
		server.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownTimeout):
		log.Printf("requests still open after %s; exiting anyway", shutdownTimeout)
	}
}
