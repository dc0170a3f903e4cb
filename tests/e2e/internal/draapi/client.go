package draapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"ascend-device-plugin/tests/e2e/internal/unixhttp"
)

// Client talks to a running cmd/dramanager over its control socket.
type Client struct {
	http *http.Client
}

// NewClient returns a client for the control socket at path.
func NewClient(path string) *Client {
	// kubelet gives each DRA call 45 s; a prepare batches one call per driver.
	return &Client{http: unixhttp.Client(path, 90*time.Second)}
}

// StatusError is a non-2xx answer: 409 is a refusal by the manager.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("dramanager answered %d: %s", e.Status, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://dramanager"+path, bytes.NewReader(nil))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = string(data)
		}
		return &StatusError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Healthy reports whether the manager runs.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil)
}

// Driver reports whether the DRA plugin manager has a plugin for driver.
func (c *Client) Driver(ctx context.Context, driver string) (Driver, error) {
	var d Driver
	err := c.do(ctx, http.MethodGet, "/drivers/"+driver, &d)
	return d, err
}

// Prepare prepares the claims of pod namespace/name, as kubelet does before
// it starts the pod, and answers each container's CDI device names.
func (c *Client) Prepare(ctx context.Context, namespace, name string) (Prepared, error) {
	var p Prepared
	err := c.do(ctx, http.MethodPost, "/pods/"+namespace+"/"+name, &p)
	return p, err
}

// Unprepare unprepares the claims of pod namespace/name, as kubelet does
// once the pod's containers are gone.
func (c *Client) Unprepare(ctx context.Context, namespace, name string) error {
	return c.do(ctx, http.MethodDelete, "/pods/"+namespace+"/"+name, nil)
}
