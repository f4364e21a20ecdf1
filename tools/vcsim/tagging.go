package main

// vCenter tags are served by the vSphere Automation (vAPI) REST service, not
// by /sdk. govmomi 0.24.2's vapi simulator implements its session and tagging
// parts (categories, tags, associations, list-attached-tags-on-objects) under
// /rest; importing it registers it with the simulator, which serves it when
// Service.RegisterEndpoints is set. See docs/simulator.md.

import (
	"crypto/subtle"
	"net/http"
	"net/url"

	_ "github.com/vmware/govmomi/vapi/simulator" // registers /rest with the simulator
)

const restSessionPath = "/rest/com/vmware/cis/session"

// restLogin refuses a REST login whose basic-auth user and password are not
// the -username/-password pair, as vCenter refuses a wrong password (401);
// the vapi simulator accepts any non-empty pair. Without -username any pair
// is accepted, as on /sdk.
type restLogin struct {
	login *url.Userinfo
	next  http.Handler
}

func (l *restLogin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.login != nil && r.Method == http.MethodPost && r.URL.Path == restSessionPath && r.URL.RawQuery == "" {
		user, pass, ok := r.BasicAuth()
		want, _ := l.login.Password()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(l.login.Username())) != 1 ||
			subtle.ConstantTimeCompare([]byte(pass), []byte(want)) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"type":"com.vmware.vapi.std.errors.unauthenticated","value":{"messages":[]}}`))
			return
		}
	}
	l.next.ServeHTTP(w, r)
}
