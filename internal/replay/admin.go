package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// The admin API, beside the exchanges on the same port:
//
//	GET    /_admin/faults      the active faults
//	POST   /_admin/faults      add one fault (a Fault object) or several (an array)
//	DELETE /_admin/faults      remove all faults
//	GET    /_admin/stats       served counts per exchange and route, rows per data type
//	DELETE /_admin/stats       reset the counts
//	GET    /_admin/ratelimits  enforcement and usage per exchange
//	POST   /_admin/ratelimits  {"exchange": "binance" or "*", "enabled": false}
//	GET    /_admin/routes      the route paths per exchange
func (h *Handler) adminRoutes() {
	h.mux.HandleFunc("GET /_admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.faults.list())
	})
	h.mux.HandleFunc("POST /_admin/faults", h.postFaults)
	h.mux.HandleFunc("DELETE /_admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		h.faults.clear()
		writeJSON(w, http.StatusOK, h.faults.list())
	})
	h.mux.HandleFunc("GET /_admin/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.Stats())
	})
	h.mux.HandleFunc("DELETE /_admin/stats", func(w http.ResponseWriter, _ *http.Request) {
		h.stats.init()
		writeJSON(w, http.StatusOK, h.Stats())
	})
	h.mux.HandleFunc("GET /_admin/ratelimits", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.limits.state(h.now()))
	})
	h.mux.HandleFunc("POST /_admin/ratelimits", h.postRateLimits)
	h.mux.HandleFunc("GET /_admin/routes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.Routes())
	})
}

const maxAdminBody = 1 << 20

func (h *Handler) postFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("reading body: %w", err))
		return
	}
	var faults []Fault
	if err := json.Unmarshal(body, &faults); err != nil {
		var one Fault
		if err1 := json.Unmarshal(body, &one); err1 != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("decoding fault: %w", err1))
			return
		}
		faults = []Fault{one}
	}
	// Validate all before adding any, so a bad list changes nothing.
	for i := range faults {
		if err := faults[i].normalize(); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	for _, f := range faults {
		if err := h.faults.add(f); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	h.log.Info("faults added", "count", len(faults))
	writeJSON(w, http.StatusOK, h.faults.list())
}

func (h *Handler) postRateLimits(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Exchange string `json:"exchange"`
		Enabled  *bool  `json:"enabled"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decoding body: %w", err))
		return
	}
	if req.Enabled == nil {
		writeError(w, http.StatusBadRequest, errors.New(`missing "enabled"`))
		return
	}
	switch {
	case req.Exchange == "*":
		for _, ex := range Exchanges {
			h.limits.enforce(ex, *req.Enabled)
		}
	case knownExchange(req.Exchange):
		h.limits.enforce(req.Exchange, *req.Enabled)
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w %q", ErrUnknownExchange, req.Exchange))
		return
	}
	writeJSON(w, http.StatusOK, h.limits.state(h.now()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
