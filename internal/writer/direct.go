package writer

import (
	"context"
	"fmt"
	"time"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/store"
)

// Direct writes each Put straight to the store, synchronously: for one-off
// commands (`mdingest fetch --store`) where a queue would only add a drain.
type Direct struct{ Store Store }

func direct[T any](ctx context.Context, table Table, write func(context.Context, []T) (store.Result, error), rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := write(ctx, rows); err != nil {
		return fmt.Errorf("writing %s: %w", table, err)
	}
	return nil
}

// PutMarkets writes market.symbols rows.
func (d Direct) PutMarkets(ctx context.Context, _ time.Time, rows []market.Market) error {
	return direct(ctx, Symbols, d.Store.Markets, rows)
}

// PutTickers writes tickers.
func (d Direct) PutTickers(ctx context.Context, _ time.Time, rows []market.Ticker) error {
	return direct(ctx, Tickers, d.Store.Tickers, rows)
}

// PutOrderBooks writes order books.
func (d Direct) PutOrderBooks(ctx context.Context, _ time.Time, rows []market.OrderBook) error {
	return direct(ctx, OrderBooks, d.Store.OrderBooks, rows)
}

// PutCandles writes candles.
func (d Direct) PutCandles(ctx context.Context, _ time.Time, rows []market.Candle) error {
	return direct(ctx, Candles, d.Store.Candles, rows)
}

// PutTrades writes trades.
func (d Direct) PutTrades(ctx context.Context, _ time.Time, rows []market.Trade) error {
	return direct(ctx, Trades, d.Store.Trades, rows)
}

// PutQualityReports writes quality reports.
func (d Direct) PutQualityReports(ctx context.Context, _ time.Time, rows []ops.QualityReport) error {
	return direct(ctx, QualityReports, d.Store.QualityReports, rows)
}

// PutRejectedRows writes rejected rows.
func (d Direct) PutRejectedRows(ctx context.Context, _ time.Time, rows []ops.RejectedRow) error {
	return direct(ctx, RejectedRows, d.Store.RejectedRows, rows)
}

// PutJobRuns writes job runs.
func (d Direct) PutJobRuns(ctx context.Context, _ time.Time, rows []ops.JobRun) error {
	return direct(ctx, JobRuns, d.Store.JobRuns, rows)
}

// PutRequestMetrics writes request records.
func (d Direct) PutRequestMetrics(ctx context.Context, _ time.Time, rows []ops.RequestMetric) error {
	return direct(ctx, RequestMetrics, d.Store.RequestMetrics, rows)
}
