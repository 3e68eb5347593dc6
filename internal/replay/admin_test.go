package replay

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The admin API faults, throttles and resets the replay: it answers
// loopback clients only, while the exchanges' routes answer anyone.
func TestAdminAnswersLoopbackOnly(t *testing.T) {
	f := newFixture(t, Options{})
	for _, c := range []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:40000", http.StatusOK},
		{"[::1]:40000", http.StatusOK},
		{"10.1.2.3:40000", http.StatusForbidden},
		{"[2001:db8::1]:40000", http.StatusForbidden},
		{"192.168.0.7:40000", http.StatusForbidden},
		{"not an address", http.StatusForbidden},
	} {
		for _, req := range []*http.Request{
			httptest.NewRequest(http.MethodGet, "/_admin/stats", nil),
			httptest.NewRequest(http.MethodPost, "/_admin/faults", strings.NewReader(`{"exchange":"binance","effect":"status","status":503}`)),
			httptest.NewRequest(http.MethodDelete, "/_admin/faults", nil),
		} {
			req.RemoteAddr = c.remote
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, req)
			require.Equal(t, c.want, w.Code, "%s %s from %s: %s", req.Method, req.URL.Path, c.remote, w.Body)
			if c.want == http.StatusForbidden {
				require.Empty(t, f.h.faults.list(), "no fault from another host")
			}
		}
	}

	req := httptest.NewRequest(http.MethodGet, "/binance/api/v3/ticker/24hr?symbol=BTCUSDT", nil)
	req.RemoteAddr = "10.1.2.3:40000"
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code, "the exchanges answer anyone: %s", w.Body)
}
