package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/report"
	"github.com/mdingest/mdingest/internal/store"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	url := pgtest.MigratedDB(t)
	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

var now = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func rep(ago time.Duration, ex, sym, dt string, rows, rejected int, score float64, passed bool) ops.QualityReport {
	return ops.QualityReport{Time: now.Add(-ago), Exchange: ex, Symbol: sym, DataType: dt,
		RowsTotal: rows, RowsRejected: rejected, Score: score, Passed: passed}
}

func TestQuality(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, err := s.QualityReports(ctx, []ops.QualityReport{
		rep(time.Hour, "binance", "BTC/USDT", "ohlcv", 1000, 0, 1, true),
		rep(2*time.Hour, "binance", "BTC/USDT", "ohlcv", 1000, 4, 0.5, false),
		rep(30*time.Minute, "binance", "BTC/USDT", "ticker", 1, 0, 0.96, true),
		rep(10*time.Minute, "kraken", "BTC/USD", "trades", 200, 10, 0.9, true),
		rep(48*time.Hour, "kraken", "BTC/USD", "trades", 200, 200, 0, false), // before --since
	})
	require.NoError(t, err)
	conflict := func(ago time.Duration, dt, payload string) ops.RejectedRow {
		return ops.RejectedRow{Time: now.Add(-ago), Exchange: "binance", Symbol: "BTC/USDT", DataType: dt, Source: "database",
			Code: ops.CodeConflict, Reason: "stored with other values", Payload: []byte(payload)}
	}
	_, err = s.RejectedRows(ctx, []ops.RejectedRow{
		conflict(time.Hour, "ohlcv", `{"timeframe": "1m"}`), conflict(time.Hour, "ohlcv", `{"timeframe": "1m"}`),
		conflict(time.Hour, "ohlcv", `{"timeframe": "5m"}`),    // another series
		conflict(48*time.Hour, "ohlcv", `{"timeframe": "1m"}`), // before --since
	})
	require.NoError(t, err)
	_, err = s.QualityReports(ctx, []ops.QualityReport{rep(time.Hour, "binance", "BTC/USDT", "ohlcv:1m", 50, 0, 1, true)})
	require.NoError(t, err)

	rows, err := s.QualitySummaries(ctx, store.QualityFilter{Since: now.Add(-24 * time.Hour)})
	require.NoError(t, err)
	require.Equal(t, []store.QualitySummary{
		{Exchange: "binance", Symbol: "BTC/USDT", DataType: "ohlcv", Batches: 2, AvgScore: 0.75, MinScore: 0.5, Failed: 1,
			RowsTotal: 2000, RowsRejected: 4, LastReport: now.Add(-time.Hour)},
		{Exchange: "binance", Symbol: "BTC/USDT", DataType: "ohlcv:1m", Batches: 1, AvgScore: 1, MinScore: 1,
			RowsTotal: 50, Conflicts: 2, LastReport: now.Add(-time.Hour)},
		{Exchange: "binance", Symbol: "BTC/USDT", DataType: "ticker", Batches: 1, AvgScore: 0.96, MinScore: 0.96,
			RowsTotal: 1, LastReport: now.Add(-30 * time.Minute)},
		{Exchange: "kraken", Symbol: "BTC/USD", DataType: "trades", Batches: 1, AvgScore: 0.9, MinScore: 0.9,
			RowsTotal: 200, RowsRejected: 10, LastReport: now.Add(-10 * time.Minute)},
	}, rows)

	var out bytes.Buffer
	require.NoError(t, report.Render(&out, rows))
	require.Equal(t, `EXCHANGE  SYMBOL    TYPE      BATCHES  AVG SCORE  MIN SCORE  FAILED  ROWS  REJECTED  CONFLICTS  LAST REPORT
binance   BTC/USDT  ohlcv     2        0.750      0.500      1       2000  4         0          2024-03-01T11:00:00Z
binance   BTC/USDT  ohlcv:1m  1        1.000      1.000      0       50    0         2          2024-03-01T11:00:00Z
binance   BTC/USDT  ticker    1        0.960      0.960      0       1     0         0          2024-03-01T11:30:00Z
kraken    BTC/USD   trades    1        0.900      0.900      0       200   10        0          2024-03-01T11:50:00Z
`, out.String())

	none, err := s.QualitySummaries(ctx, store.QualityFilter{Since: now})
	require.NoError(t, err)
	require.Empty(t, none)
	out.Reset()
	require.NoError(t, report.Render(&out, none))
	require.Equal(t, "no quality reports in this period\n", out.String())
}

// TestQualityFilterAndFormats: --exchange and --symbol select; CSV and
// JSON carry the same rows with full-precision scores.
func TestQualityFilterAndFormats(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, err := s.QualityReports(ctx, []ops.QualityReport{
		rep(time.Hour, "binance", "BTC/USDT", "ticker", 10, 1, 0.9125, false),
		rep(time.Hour, "binance", "ETH/USDT", "ticker", 10, 0, 1, true),
		rep(time.Hour, "kraken", "BTC/USDT", "trades", 5, 0, 1, true),
	})
	require.NoError(t, err)
	since := now.Add(-24 * time.Hour)
	pick := func(f store.QualityFilter) []string {
		rows, err := s.QualitySummaries(ctx, f)
		require.NoError(t, err)
		var got []string
		for _, r := range rows {
			got = append(got, r.Exchange+" "+r.Symbol+" "+r.DataType)
		}
		return got
	}
	require.Equal(t, []string{"binance BTC/USDT ticker", "binance ETH/USDT ticker", "kraken BTC/USDT trades"}, pick(store.QualityFilter{Since: since}))
	require.Equal(t, []string{"binance BTC/USDT ticker", "binance ETH/USDT ticker"}, pick(store.QualityFilter{Since: since, Exchange: "binance"}))
	require.Equal(t, []string{"binance BTC/USDT ticker", "kraken BTC/USDT trades"}, pick(store.QualityFilter{Since: since, Symbol: "BTC/USDT"}))
	require.Equal(t, []string{"kraken BTC/USDT trades"}, pick(store.QualityFilter{Since: since, Exchange: "kraken", Symbol: "BTC/USDT"}))
	require.Empty(t, pick(store.QualityFilter{Since: since, Exchange: "okx"}))

	rows, err := s.QualitySummaries(ctx, store.QualityFilter{Since: since, Symbol: "BTC/USDT"})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, report.RenderCSV(&out, rows))
	require.Equal(t, `exchange,symbol,data_type,batches,avg_score,min_score,failed,rows_total,rows_rejected,conflicts,last_report
binance,BTC/USDT,ticker,1,0.9125,0.9125,1,10,1,0,2024-03-01T11:00:00Z
kraken,BTC/USDT,trades,1,1,1,0,5,0,0,2024-03-01T11:00:00Z
`, out.String())

	out.Reset()
	require.NoError(t, report.RenderJSON(&out, rows))
	var back []store.QualitySummary
	require.NoError(t, json.Unmarshal(out.Bytes(), &back))
	require.Equal(t, rows, back)
	require.Contains(t, out.String(), `"avg_score": 0.9125`)

	out.Reset()
	require.NoError(t, report.RenderJSON(&out, nil))
	require.Equal(t, "[]\n", out.String())
	out.Reset()
	require.NoError(t, report.RenderCSV(&out, nil))
	require.Equal(t, "exchange,symbol,data_type,batches,avg_score,min_score,failed,rows_total,rows_rejected,conflicts,last_report\n", out.String())
}

// TestJobRuns: each job's last success, last outcome and errors, for
// status without a daemon.
func TestJobRuns(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	run := func(job string, ago time.Duration, outcome string) ops.JobRun {
		return ops.JobRun{ID: uuid.New(), Job: job, Exchange: "binance", Started: now.Add(-ago), Finished: now.Add(-ago + time.Second), Outcome: outcome}
	}
	_, err := s.JobRuns(ctx, []ops.JobRun{
		run("tickers/binance", 3*time.Minute, "ok"), run("tickers/binance", 2*time.Minute, "ok"),
		run("tickers/binance", time.Minute, "error"), run("ohlcv/binance", time.Minute, "error"),
		run("ohlcv/binance", 9*24*time.Hour, "ok"), // before the window
	})
	require.NoError(t, err)
	runs, err := s.JobSummaries(ctx, now.Add(-7*24*time.Hour))
	require.NoError(t, err)
	ok := now.Add(-2*time.Minute + time.Second)
	require.Equal(t, []store.JobSummary{
		{Job: "ohlcv/binance", Exchange: "binance", LastOutcome: "error", Errors: 1},
		{Job: "tickers/binance", Exchange: "binance", LastSuccess: &ok, LastOutcome: "error", Errors: 1},
	}, runs)
	var out bytes.Buffer
	require.NoError(t, report.RenderJobRuns(&out, runs, "ERRORS (7d)"))
	require.Equal(t, `JOB              EXCHANGE  LAST SUCCESS          LAST   ERRORS (7d)
ohlcv/binance    binance   never                 error  1
tickers/binance  binance   2024-03-01T11:58:01Z  error  1
`, out.String())
}
