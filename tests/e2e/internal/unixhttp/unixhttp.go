// Package unixhttp is the HTTP client the harness control protocols
// (dmapi, draapi) use over a unix socket: one connection per request, so a
// restarted harness process is reached on its new socket at once.
package unixhttp

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Client returns an HTTP client whose every request dials the unix socket
// at path, whatever the URL's host, and gives up after timeout.
func Client(path string, timeout time.Duration) *http.Client {
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &http.Client{Transport: transport, Timeout: timeout}
}
