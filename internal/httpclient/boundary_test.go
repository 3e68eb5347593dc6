package httpclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/ratelimit"
)

// serverClock answers as an exchange with a per-minute usage header would:
// the Date and the usage of each response are given by the request
// (?date=<unix seconds>&used=<n>), and ?hold=1 keeps the response until the
// test releases it, so that it can arrive after a window boundary.
type serverClock struct {
	arrived chan struct{}
	release chan struct{}
}

func (s *serverClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("hold") == "1" {
		s.arrived <- struct{}{}
		<-s.release
	}
	secs, _ := strconv.ParseInt(q.Get("date"), 10, 64)
	w.Header().Set("Date", time.Unix(secs, 0).UTC().Format(http.TimeFormat))
	w.Header().Set("X-MBX-USED-WEIGHT-1M", q.Get("used"))
	_, _ = w.Write([]byte(`[]`))
}

func usageRequest(weight int, date time.Time, used int, hold bool) exchange.Request {
	path := "/klines?date=" + strconv.FormatInt(date.Unix(), 10) + "&used=" + strconv.Itoa(used)
	if hold {
		path += "&hold=1"
	}
	return exchange.Request{Endpoint: "klines", Path: path, Weight: weight}
}

// TestUsageHeaderCountsInTheServersWindow is the failure the boundary
// benchmark found: a response sent just before a minute boundary arrives
// just after it, carrying the old minute's used weight. It must be counted
// in the minute the server counted it in (its Date), not in the new one,
// and a later, lower report for the new minute must lower the count.
func TestUsageHeaderCountsInTheServersWindow(t *testing.T) {
	ctx := testCtx(t)
	s := &serverClock{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	clock := clockwork.NewFakeClockAt(epoch)
	// 6000 per minute, paced at 100 per second with a burst of 3000.
	lim, err := ratelimit.New(ratelimit.Options{Exchange: "testex", Limit: 6000, Window: time.Minute, Burst: 3000, Clock: clock})
	require.NoError(t, err)
	c, _ := newClient(t, srv.URL, func(o *Options) {
		o.Clock, o.Limiter, o.UsedWeightHeader = clock, lim, "X-MBX-USED-WEIGHT-1M"
	})

	// The old minute fills up: 5800 by 0:30.
	_, err = c.Get(ctx, usageRequest(2900, epoch, 2900, false))
	require.NoError(t, err)
	clock.Advance(30 * time.Second)
	_, err = c.Get(ctx, usageRequest(2900, epoch.Add(30*time.Second), 5800, false))
	require.NoError(t, err)

	// At 0:59.5 one more request leaves; the server counts it at 0:59, but
	// its answer arrives at 1:00.5, in the new minute.
	clock.Advance(29*time.Second + 500*time.Millisecond)
	var wg sync.WaitGroup
	defer wg.Wait()
	late := getAsync(ctx, &wg, c, usageRequest(150, epoch.Add(59*time.Second), 5950, true))
	<-s.arrived
	clock.Advance(time.Second)
	close(s.release)
	require.NoError(t, recv(t, ctx, late).err)
	require.Less(t, lim.Used(), 10.0, "the old minute's 5950 is not the new minute's usage")

	// So the new minute's budget is there to spend at once. The server
	// charges this request 1000, not the 2900 we counted: its report
	// corrects our count down.
	quick, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = c.Get(quick, usageRequest(2900, epoch.Add(60*time.Second), 1000, false))
	require.NoError(t, err, "the new minute's budget is free")
	require.Equal(t, 1000.0, lim.Used(), "the server's lower count wins")
}
