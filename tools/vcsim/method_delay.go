package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseMethodDelays reads -method-delay: "PowerOnVM_Task=2000,CloneVM_Task=500".
// The simulator waits that long before serving the call, and serves it even if
// the client has gone meanwhile, as vCenter carries out a task whose client
// died.
func parseMethodDelays(spec string) (map[string]int, error) {
	delays := map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, found := strings.Cut(item, "=")
		ms, err := strconv.Atoi(strings.TrimSpace(value))
		if !found || strings.TrimSpace(name) == "" || err != nil || ms < 0 || ms > 600000 {
			return nil, fmt.Errorf("-method-delay: %q is not METHOD=MILLISECONDS (0 to 600000)", item)
		}
		delays[strings.TrimSpace(name)] = ms
	}
	return delays, nil
}
