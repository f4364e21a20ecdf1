package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/url"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// adminPollInterval is how often the admin simulator's VMs are read.
const adminPollInterval = 250 * time.Millisecond

// adminCallTimeout bounds one login or read, so that a stopped admin
// simulator cannot stall the monitor.
const adminCallTimeout = 5 * time.Second

// adminMonitor follows the VMs that back nested hosts in a second ("admin")
// simulator, as a vSphere client: it logs in and reads every VM's name, power
// state and boot time every adminPollInterval. A VM that is not found there
// counts as not running. While the admin simulator cannot be reached, the
// nested hosts keep their last known state.
type adminMonitor struct {
	lab    *lab
	url    *url.URL
	client *govmomi.Client
	failed bool // the last poll failed (logged once per outage)
	cancel context.CancelFunc
	done   chan struct{}
}

// remoteVM is what the monitor reads of one VM.
type remoteVM struct {
	power types.VirtualMachinePowerState
	boot  time.Time
}

// parseAdminURL checks -admin-url: an http(s) URL of a loopback address. It
// adds the simulator's default credentials if the URL names none.
func parseAdminURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-admin-url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("-admin-url %q: want http://IP:PORT/sdk", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-admin-url %q: refusing non-loopback address %q", raw, u.Hostname())
	}
	if u.Path == "" {
		u.Path = "/sdk"
	}
	if u.User == nil {
		u.User = url.UserPassword("vcsim", "vcsim")
	}
	return u, nil
}

// startAdminMonitor starts following the remote backing VMs, if there are
// any.
func startAdminMonitor(l *lab, u *url.URL) *adminMonitor {
	ctx, cancel := context.WithCancel(context.Background())
	m := &adminMonitor{lab: l, url: u, cancel: cancel, done: make(chan struct{})}
	go m.run(ctx)
	return m
}

func (m *adminMonitor) stop() {
	m.cancel()
	<-m.done
}

func (m *adminMonitor) run(ctx context.Context) {
	defer close(m.done)
	ticker := time.NewTicker(adminPollInterval)
	defer ticker.Stop()
	for {
		m.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// pollOnce reads the admin simulator's VMs and applies them to the nested
// hosts.
func (m *adminMonitor) pollOnce(ctx context.Context) {
	vms, err := m.read(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if !m.failed {
			log.Printf("admin simulator %s: %v (nested hosts keep their state until it answers)", m.url.Host, err)
		}
		m.failed = true
		m.client = nil
		return
	}
	if m.failed {
		log.Printf("admin simulator %s answers again", m.url.Host)
	}
	m.failed = false
	m.lab.observeRemote(vms)
}

// read returns the admin simulator's VMs by name, logging in first if needed.
func (m *adminMonitor) read(ctx context.Context) (map[string]remoteVM, error) {
	ctx, cancel := context.WithTimeout(ctx, adminCallTimeout)
	defer cancel()
	if m.client == nil {
		c, err := govmomi.NewClient(ctx, m.url, true)
		if err != nil {
			return nil, err
		}
		m.client = c
	}
	mgr := view.NewManager(m.client.Client)
	v, err := mgr.CreateContainerView(ctx, m.client.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = v.Destroy(ctx) }()
	var found []mo.VirtualMachine
	props := []string{"name", "runtime.powerState", "summary.runtime.bootTime"}
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, props, &found); err != nil {
		return nil, err
	}
	return remoteVMs(found)
}

func remoteVMs(found []mo.VirtualMachine) (map[string]remoteVM, error) {
	vms := map[string]remoteVM{}
	for _, vm := range found {
		if vm.Name == "" {
			return nil, errors.New("a VM without a name")
		}
		r := remoteVM{power: vm.Runtime.PowerState}
		if t := vm.Summary.Runtime.BootTime; t != nil {
			r.boot = *t
		}
		vms[vm.Name] = r
	}
	return vms, nil
}

// observeRemote applies one read of the admin simulator to the remote nested
// hosts.
func (l *lab) observeRemote(vms map[string]remoteVM) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.backing {
		if !b.remote {
			continue
		}
		vm, ok := vms[b.vm]
		if !ok && (!b.seen || b.alive) {
			log.Printf("host %s: backing VM %s not found in the admin simulator", b.host, b.vm)
		}
		l.applyObservation(b, ok && vm.power == types.VirtualMachinePowerStatePoweredOn, vm.boot)
	}
	l.settle()
}
