package dmapi

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

// Client talks to a running cmd/devicemanager over its control socket.
type Client struct {
	http *http.Client
}

// NewClient returns a client for the control socket at path.
func NewClient(path string) *Client {
	return &Client{http: unixhttp.Client(path, 60*time.Second)}
}

// AdmitError is a pod admission the manager refused (kubelet would mark the
// pod UnexpectedAdmissionError).
type AdmitError struct {
	Status  int
	Message string
}

func (e *AdmitError) Error() string {
	return fmt.Sprintf("devicemanager answered %d: %s", e.Status, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://devicemanager"+path, reader)
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
		return &AdmitError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Healthy reports whether the manager serves kubelet.sock.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Resources reports capacity, allocatable and healthy device IDs.
func (c *Client) Resources(ctx context.Context) (Resources, error) {
	var r Resources
	err := c.do(ctx, http.MethodGet, "/resources", nil, &r)
	return r, err
}

// Admit admits a pod through the manager's Allocate path.
func (c *Client) Admit(ctx context.Context, pod Pod) (Admission, error) {
	var a Admission
	err := c.do(ctx, http.MethodPost, "/pods", pod, &a)
	return a, err
}

// Pod reports an admitted pod's devices and run options.
func (c *Client) Pod(ctx context.Context, uid string) (Admission, error) {
	var a Admission
	err := c.do(ctx, http.MethodGet, "/pods/"+uid, nil, &a)
	return a, err
}

// Terminate forgets a pod and frees its devices.
func (c *Client) Terminate(ctx context.Context, uid string) error {
	return c.do(ctx, http.MethodDelete, "/pods/"+uid, nil, nil)
}

// Restart restarts the manager the way a kubelet restart does.
func (c *Client) Restart(ctx context.Context, req RestartRequest) (Restart, error) {
	var r Restart
	err := c.do(ctx, http.MethodPost, "/restart", req, &r)
	return r, err
}
