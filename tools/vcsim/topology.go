package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
)

// Topology is the lab described by the -topology JSON file. The JSON keys are
// the file format; /topology serves this struct back with the same keys.
// Unknown keys (e.g. "comment") are ignored.
type Topology struct {
	// ProbePort is the TCP port on which every host and VM address answers
	// probes while it is alive (see probes.go); a host or VM may override it.
	ProbePort int `json:"probe_port"`
	// LockLeaseSeconds is how long the file locks of a host that lost power
	// outlive it (VMFS: about 16 s); NotRespondingAfterSeconds is how long
	// vCenter takes to show a silent host notResponding (vpxd: about 60 s).
	// See host_power.go. Absent means the default; 0 is allowed.
	LockLeaseSeconds          *int         `json:"lock_lease_seconds"`
	NotRespondingAfterSeconds *int         `json:"not_responding_after_seconds"`
	Datacenters               []Datacenter `json:"datacenters"`
	SpareHosts                []SpareHost  `json:"spare_hosts"`
}

// defaultProbePort is the probe port of a topology that names none.
const defaultProbePort = 2222

// defaultBootSeconds is how long a nested host takes to boot once its
// backing VM is powered on, unless the host says otherwise.
const defaultBootSeconds = 5

// Datacenter holds the datastores and compute resources of one datacenter.
type Datacenter struct {
	Name       string      `json:"name"`
	Datastores []Datastore `json:"datastores"`
	Clusters   []Cluster   `json:"clusters"`
	Hosts      []Host      `json:"hosts"` // standalone hosts, each in its own ComputeResource
}

// Datastore is mounted on exactly the listed hosts of its datacenter.
type Datastore struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
}

// Cluster is a ClusterComputeResource and its hosts. HA is its vSphere HA
// configuration (see topology_lab.go).
type Cluster struct {
	Name  string    `json:"name"`
	Hosts []Host    `json:"hosts"`
	HA    ClusterHA `json:"ha"`
}

// Host is an ESXi host added to vCenter. IP is its management (vmk0) address;
// Thumbprint is the SHA-1 thumbprint of its certificate (see topology_lab.go).
// A nested host runs as the VM BackingVM (in this simulator, or in the admin
// simulator given by -admin-url) and needs BootSeconds to come up once that
// VM is powered on (see nested.go).
type Host struct {
	Name        string `json:"name"`
	IP          string `json:"ip"`
	Thumbprint  string `json:"thumbprint"`
	CPUMHz      int32  `json:"cpu_mhz"`
	MemoryMB    int64  `json:"memory_mb"`
	ProbePort   int    `json:"probe_port,omitempty"`
	BackingVM   string `json:"backing_vm,omitempty"`
	BootSeconds int    `json:"boot_seconds,omitempty"`
	VMs         []VM   `json:"vms"`
}

// VM is a virtual machine registered on its host. An empty IP means the guest
// reports no address.
type VM struct {
	Name      string   `json:"name"`
	IP        string   `json:"ip,omitempty"`
	Power     string   `json:"power"`
	CPUs      int32    `json:"cpus"`
	MemoryMB  int32    `json:"memory_mb"`
	Datastore string   `json:"datastore"`
	Snapshots []string `json:"snapshots"`
	ProbePort int      `json:"probe_port,omitempty"`
}

// SpareHost is known to the lab but not added to vCenter. When a client adds
// it, it gets this IP and, if both are given, this hardware (see
// added_hosts.go); vCenter checks its certificate's Thumbprint, and it mounts
// the Datastores of the datacenter it joins (see spare_hosts.go).
type SpareHost struct {
	Name       string   `json:"name"`
	IP         string   `json:"ip"`
	Thumbprint string   `json:"thumbprint"`
	Datastores []string `json:"datastores"`
	CPUMHz     int32    `json:"cpu_mhz,omitempty"`
	MemoryMB   int64    `json:"memory_mb,omitempty"`
	ProbePort  int      `json:"probe_port,omitempty"`
}

// loadTopology reads, parses and validates a topology file.
func loadTopology(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	topo, err := parseTopology(data)
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	if err := topo.validate(); err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	return topo, nil
}

// parseTopology decodes exactly one JSON object, reporting syntax errors by
// line and column.
func parseTopology(data []byte) (*Topology, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	topo := new(Topology)
	if err := dec.Decode(topo); err != nil {
		return nil, describeJSONError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("malformed JSON: unexpected data after the top-level object")
	}
	topo.normalize()
	return topo, nil
}

// describeJSONError adds the line and column to JSON syntax and type errors.
func describeJSONError(data []byte, err error) error {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		line, col := lineAndColumn(data, syntax.Offset)
		return fmt.Errorf("malformed JSON at line %d, column %d: %v", line, col, err)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		line, col := lineAndColumn(data, typeErr.Offset)
		field := typeErr.Field
		if field == "" {
			field = "the top level"
		}
		return fmt.Errorf("malformed JSON at line %d, column %d: %s must be %s, got %s",
			line, col, field, jsonKind(typeErr.Type), typeErr.Value)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("malformed JSON: file is empty")
	}
	return fmt.Errorf("malformed JSON: %v", err)
}

// jsonKind names the JSON value that decodes into t, for error messages.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return fmt.Sprintf("an integer of at most %d bits", t.Bits())
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct:
		return "an object"
	}
	return t.String()
}

func lineAndColumn(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// normalize turns absent lists into empty ones so that /topology always
// serves [] rather than null.
func (t *Topology) normalize() {
	if t.ProbePort == 0 {
		t.ProbePort = defaultProbePort
	}
	t.LockLeaseSeconds = withDefault(t.LockLeaseSeconds, defaultLockLeaseSeconds)
	t.NotRespondingAfterSeconds = withDefault(t.NotRespondingAfterSeconds, defaultNotRespondingAfterSeconds)
	if t.Datacenters == nil {
		t.Datacenters = []Datacenter{}
	}
	if t.SpareHosts == nil {
		t.SpareHosts = []SpareHost{}
	}
	for i := range t.Datacenters {
		dc := &t.Datacenters[i]
		if dc.Datastores == nil {
			dc.Datastores = []Datastore{}
		}
		if dc.Clusters == nil {
			dc.Clusters = []Cluster{}
		}
		if dc.Hosts == nil {
			dc.Hosts = []Host{}
		}
		for j := range dc.Datastores {
			if dc.Datastores[j].Hosts == nil {
				dc.Datastores[j].Hosts = []string{}
			}
		}
		for j := range dc.Clusters {
			if dc.Clusters[j].Hosts == nil {
				dc.Clusters[j].Hosts = []Host{}
			}
			normalizeHosts(dc.Clusters[j].Hosts)
		}
		normalizeHosts(dc.Hosts)
	}
	t.normalizeLab()
}

func normalizeHosts(hosts []Host) {
	for i := range hosts {
		if hosts[i].BackingVM != "" && hosts[i].BootSeconds == 0 {
			hosts[i].BootSeconds = defaultBootSeconds
		}
		if hosts[i].VMs == nil {
			hosts[i].VMs = []VM{}
		}
		for j := range hosts[i].VMs {
			if hosts[i].VMs[j].Snapshots == nil {
				hosts[i].VMs[j].Snapshots = []string{}
			}
		}
	}
}

// allHosts returns the datacenter's cluster hosts followed by its standalone
// hosts.
func (dc *Datacenter) allHosts() []*Host {
	var hosts []*Host
	for i := range dc.Clusters {
		for j := range dc.Clusters[i].Hosts {
			hosts = append(hosts, &dc.Clusters[i].Hosts[j])
		}
	}
	for i := range dc.Hosts {
		hosts = append(hosts, &dc.Hosts[i])
	}
	return hosts
}

// counts returns the number of hosts and VMs added to vCenter.
func (t *Topology) counts() (hosts, vms int) {
	for i := range t.Datacenters {
		for _, h := range t.Datacenters[i].allHosts() {
			hosts++
			vms += len(h.VMs)
		}
	}
	return hosts, vms
}
