package main

import (
	"errors"
	"log"
	"net"
	"sync"
	"time"
)

// probeListeners are the TCP listeners that make live addresses answer
// probes: each accepts connections and closes them at once. A dead address
// has no listener, so a connection to it is refused. Only loopback addresses
// are ever bound (the topology validation refuses any other).
//
// A nil *probeListeners (-probes=false) does nothing.
type probeListeners struct {
	mu     sync.Mutex
	open   map[string]net.Listener // by IP:PORT
	failed map[string]bool         // endpoints that could not be bound, reported once
}

func newProbeListeners() *probeListeners {
	return &probeListeners{open: map[string]net.Listener{}, failed: map[string]bool{}}
}

// set opens (on) or closes the listener of an endpoint. A failure to bind
// (e.g. another simulator with the same topology holds the address) is
// logged once and leaves the endpoint without a listener.
func (p *probeListeners) set(endpoint string, on bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	l, isOpen := p.open[endpoint]
	switch {
	case on && !isOpen:
		p.listen(endpoint)
	case !on && isOpen:
		_ = l.Close()
		delete(p.open, endpoint)
	}
}

func (p *probeListeners) listen(endpoint string) {
	l, err := listenLoopback(endpoint)
	if err != nil {
		if !p.failed[endpoint] {
			log.Printf("probe listener %s: %v", endpoint, err)
			p.failed[endpoint] = true
		}
		return
	}
	delete(p.failed, endpoint)
	p.open[endpoint] = l
	go acceptAndClose(l)
}

// listenLoopback listens on a loopback IP:PORT, refusing any other address.
func listenLoopback(endpoint string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, errors.New("not a loopback address")
	}
	return net.Listen("tcp", endpoint)
}

// acceptAndClose answers every connection by closing it, until the listener
// is closed.
func acceptAndClose(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: retry
			continue
		}
		_ = conn.Close()
	}
}

// alive tells whether an endpoint has a listener.
func (p *probeListeners) alive(endpoint string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.open[endpoint]
	return ok
}

// closeAll closes every listener.
func (p *probeListeners) closeAll() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for endpoint, l := range p.open {
		_ = l.Close()
		delete(p.open, endpoint)
	}
}
