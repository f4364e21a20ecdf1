package main

import "net/http"

// route is an HTTP endpoint served beside the simulator's /sdk.
type route struct {
	pattern string
	handler func(*World) http.Handler
}

// routes lists the extra endpoints. Each endpoint lives in its own file and
// registers itself from an init func with addRoute, e.g. a chaos.go doing
// addRoute("/chaos", newChaosHandler).
var routes []route

func addRoute(pattern string, handler func(*World) http.Handler) {
	routes = append(routes, route{pattern: pattern, handler: handler})
}

// newServeMux returns a mux holding the extra endpoints. The simulator adds
// /sdk, /about, /folder, /guestFile and /nfc to it in Service.NewServer, so
// those patterns are taken.
func newServeMux(w *World) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.pattern, r.handler(w))
	}
	return mux
}
