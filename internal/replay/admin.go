package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// The admin API, beside the exchanges on the same port:
//
//	GET    /_admin/faults      the active faults
//	POST   /_admin/faults      add one fault (a Fault object) or several (an array)
//	DELETE /_admin/faults      remove all faults
//	GET    /_admin/stats       served counts per exchange and route, rows per data type
//	DELETE /_admin/stats       reset the counts (and the key log)
//	POST   /_admin/keylog      count distinct keys served from now on (see keylog.go)
//	GET    /_admin/ratelimits  enforcement and usage per exchange
//	POST   /_admin/ratelimits  {"exchange": "binance" or "*", "enabled": false}; with
//	                           "limit": 400, "window": "2s" the budget is replaced
//	                           ("limit": 0 restores the published one)
//	GET    /_admin/routes      the route paths per exchange
//
// It answers loopback clients only (403 otherwise): whoever reaches it can
// fault, throttle or reset the replay, and the exchanges' routes may be
// served on a wider address.
func (h *Handler) adminRoutes() {
	admin := func(pattern string, f http.HandlerFunc) { h.mux.HandleFunc(pattern, loopbackOnly(f)) }
	admin("GET /_admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.faults.list())
	})
	admin("POST /_admin/faults", h.postFaults)
	admin("DELETE /_admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		h.faults.clear()
		writeJSON(w, http.StatusOK, h.faults.list())
	})
	admin("GET /_admin/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.Stats())
	})
	admin("DELETE /_admin/stats", func(w http.ResponseWriter, _ *http.Request) {
		h.stats.init()
		h.keys.reset(false)
		writeJSON(w, http.StatusOK, h.Stats())
	})
	admin("POST /_admin/keylog", h.postKeyLog)
	admin("GET /_admin/ratelimits", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.limits.state(h.now()))
	})
	admin("POST /_admin/ratelimits", h.postRateLimits)
	admin("GET /_admin/routes", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, h.Routes())
	})
}

// errNotLoopback refuses an admin request from another host.
var errNotLoopback = errors.New("the admin API answers loopback clients only")

// loopbackOnly serves f to clients connected from a loopback address.
func loopbackOnly(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			writeError(w, http.StatusForbidden, errNotLoopback)
			return
		}
		f(w, r)
	}
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
		Exchange string  `json:"exchange"`
		Enabled  *bool   `json:"enabled"`
		Limit    *int    `json:"limit"`
		Window   *string `json:"window"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decoding body: %w", err))
		return
	}
	if req.Enabled == nil && req.Limit == nil {
		writeError(w, http.StatusBadRequest, errors.New(`missing "enabled" or "limit"`))
		return
	}
	var budget *Budget
	if req.Limit != nil {
		b := Budget{Limit: *req.Limit}
		if req.Window != nil {
			d, err := time.ParseDuration(*req.Window)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("%w: window %q: %w", ErrBadBudget, *req.Window, err))
				return
			}
			b.Window = d
		}
		if b.Limit != 0 && !b.valid() {
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: limit and window must be positive", ErrBadBudget))
			return
		}
		budget = &b
	}
	var targets []string
	switch {
	case req.Exchange == "*":
		targets = Exchanges
	case knownExchange(req.Exchange):
		targets = []string{req.Exchange}
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w %q", ErrUnknownExchange, req.Exchange))
		return
	}
	for _, ex := range targets {
		if req.Enabled != nil {
			h.limits.enforce(ex, *req.Enabled)
		}
		if budget != nil {
			h.limits.setBudget(ex, *budget)
		}
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

// AddFaults adds faults, as POST /_admin/faults does; all are checked
// before any is added.
func (h *Handler) AddFaults(faults ...Fault) error {
	for i := range faults {
		if err := faults[i].normalize(); err != nil {
			return err
		}
	}
	for _, f := range faults {
		if err := h.faults.add(f); err != nil {
			return err
		}
	}
	return nil
}

// ClearFaults removes every fault, as DELETE /_admin/faults does.
func (h *Handler) ClearFaults() { h.faults.clear() }

// ResetStats zeroes the served counts, as DELETE /_admin/stats does.
func (h *Handler) ResetStats() {
	h.stats.init()
	h.keys.reset(false)
}

// SetRateLimit turns an exchange's rate-limit enforcement on or off.
func (h *Handler) SetRateLimit(exchange string, enforced bool) error {
	if !knownExchange(exchange) {
		return fmt.Errorf("%w %q", ErrUnknownExchange, exchange)
	}
	h.limits.enforce(exchange, enforced)
	return nil
}

// SetBudget replaces an exchange's published limits with b (a zero Budget
// restores them); its current windows restart.
func (h *Handler) SetBudget(exchange string, b Budget) error {
	if !knownExchange(exchange) {
		return fmt.Errorf("%w %q", ErrUnknownExchange, exchange)
	}
	if b != (Budget{}) && !b.valid() {
		return fmt.Errorf("%w: %s: limit and window must be positive", ErrBadBudget, exchange)
	}
	h.limits.setBudget(exchange, b)
	return nil
}
