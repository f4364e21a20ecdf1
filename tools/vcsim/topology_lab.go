package main

import (
	"crypto/sha1"
	"fmt"
	"regexp"
	"strings"

	"github.com/vmware/govmomi/simulator"
)

// thumbprintPattern is the format of HostConnectSpec.sslThumbprint: the SHA-1
// hash of the certificate as 20 colon-separated pairs of hex digits.
var thumbprintPattern = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19}$`)

// normalizeLab fills in the defaults of the keys this file adds: a host or
// spare host without a thumbprint gets one derived from its name (the same
// in every run).
func (t *Topology) normalizeLab() {
	for i := range t.Datacenters {
		dc := &t.Datacenters[i]
		for _, h := range dc.allHosts() {
			if h.Thumbprint == "" {
				h.Thumbprint = derivedThumbprint(h.Name)
			}
		}
	}
	for i := range t.SpareHosts {
		spare := &t.SpareHosts[i]
		if spare.Thumbprint == "" {
			spare.Thumbprint = derivedThumbprint(spare.Name)
		}
		if spare.Datastores == nil {
			spare.Datastores = []string{}
		}
	}
}

// derivedThumbprint is the thumbprint of a host the topology gives none.
func derivedThumbprint(name string) string {
	sum := sha1.Sum([]byte("vcsim host certificate " + name))
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(pairs, ":")
}

// labKeys checks the keys this file adds: thumbprints and the datastores of
// spare hosts.
func (v *validator) labKeys(t *Topology) {
	datastores := map[string]bool{}
	for i := range t.Datacenters {
		dc := &t.Datacenters[i]
		for _, ds := range dc.Datastores {
			datastores[ds.Name] = true
		}
		for _, h := range dc.allHosts() {
			v.thumbprint(h.Thumbprint, fmt.Sprintf("host %q", h.Name))
		}
	}
	for _, spare := range t.SpareHosts {
		where := fmt.Sprintf("spare host %q", spare.Name)
		v.thumbprint(spare.Thumbprint, where)
		seen := map[string]bool{}
		for _, ds := range spare.Datastores {
			switch {
			case !datastores[ds]:
				v.addf("%s: unknown datastore %q", where, ds)
			case seen[ds]:
				v.addf("%s: datastore %q is listed twice", where, ds)
			}
			seen[ds] = true
		}
	}
}

func (v *validator) thumbprint(tp, where string) {
	if !thumbprintPattern.MatchString(tp) {
		v.addf("%s: thumbprint %q is not a SHA-1 thumbprint (20 pairs of hex digits separated by ':')", where, tp)
	}
}

// labExtras sets, once a datacenter's VMs exist, what the API cannot set at
// creation: each host's certificate thumbprint (summary.config.sslThumbprint).
func (b *builder) labExtras(d *dcBuild) {
	for _, h := range d.topo.allHosts() {
		host := simulator.Map.Get(b.world.Hosts[h.Name]).(*simulator.HostSystem)
		host.Summary.Config.SslThumbprint = h.Thumbprint
	}
}
