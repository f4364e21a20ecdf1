package main

import "time"

// Defaults of the topology's failure timings: a VMFS lock outlives its dead
// owner by about 16 s (Broadcom KB 330024), and vpxd marks a host whose
// heartbeats stop notResponding after about 60 s.
const (
	defaultLockLeaseSeconds          = 16
	defaultNotRespondingAfterSeconds = 60
	maxTimingSeconds                 = 3600
)

// withDefault returns v, or a pointer to def when v is absent.
func withDefault(v *int, def int) *int {
	if v == nil {
		return &def
	}
	return v
}

// seconds checks a timing key of the topology (0 to an hour).
func (v *validator) seconds(key string, value *int) {
	if value != nil && (*value < 0 || *value > maxTimingSeconds) {
		v.addf("the topology: %s must be between 0 and %d, got %d", key, maxTimingSeconds, *value)
	}
}

// lockLease and notRespondingAfter are the topology's timings.
func (t *Topology) lockLease() time.Duration {
	return time.Duration(*withDefault(t.LockLeaseSeconds, defaultLockLeaseSeconds)) * time.Second
}

func (t *Topology) notRespondingAfter() time.Duration {
	return time.Duration(*withDefault(t.NotRespondingAfterSeconds, defaultNotRespondingAfterSeconds)) * time.Second
}
