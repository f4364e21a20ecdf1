package main

import (
	"encoding/json"
	"net/http"
)

func init() {
	addRoute("/topology", newTopologyHandler)
}

// newTopologyHandler serves GET /topology: the parsed topology as JSON, in
// the file's format (unknown keys dropped, absent lists as []).
func newTopologyHandler(w *World) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := json.MarshalIndent(w.Topology, "", "  ")
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(append(body, '\n'))
	})
}
