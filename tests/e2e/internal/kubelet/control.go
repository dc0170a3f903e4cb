package kubelet

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"ascend-device-plugin/tests/e2e/internal/dmapi"
)

// Handler serves the dmapi control protocol for k.
func (k *Kubelet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := k.current(); err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		reply(w, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /resources", func(w http.ResponseWriter, r *http.Request) {
		res, err := k.Resources()
		if err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		reply(w, res)
	})
	mux.HandleFunc("POST /pods", func(w http.ResponseWriter, r *http.Request) {
		var pod dmapi.Pod
		if err := json.NewDecoder(r.Body).Decode(&pod); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		out, err := k.Admit(r.Context(), pod)
		switch {
		case errors.Is(err, ErrNotRunning), errors.Is(err, ErrRestarted):
			fail(w, http.StatusServiceUnavailable, err)
		case err != nil:
			// kubelet would reject the pod: UnexpectedAdmissionError.
			fail(w, http.StatusConflict, err)
		default:
			reply(w, out)
		}
	})
	mux.HandleFunc("GET /pods/{uid}", func(w http.ResponseWriter, r *http.Request) {
		out, found, err := k.Pod(r.Context(), r.PathValue("uid"))
		switch {
		case !found:
			fail(w, http.StatusNotFound, errors.New("no such pod"))
		case err != nil:
			fail(w, http.StatusConflict, err)
		default:
			reply(w, out)
		}
	})
	mux.HandleFunc("DELETE /pods/{uid}", func(w http.ResponseWriter, r *http.Request) {
		if !k.Terminate(r.PathValue("uid")) {
			fail(w, http.StatusNotFound, errors.New("no such pod"))
			return
		}
		reply(w, map[string]string{"status": "terminated"})
	})
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, r *http.Request) {
		var req dmapi.RestartRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !strings.Contains(err.Error(), "EOF") {
			fail(w, http.StatusBadRequest, err)
			return
		}
		out, err := k.Restart(time.Duration(req.DownMillis) * time.Millisecond)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		reply(w, out)
	})
	return mux
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(dmapi.Error{Error: err.Error()})
}
