package daemon

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mdingest/mdingest/internal/backfill"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

// gapFiller is the daemon's daily job (jobs.gap_fill, on by default): find
// the holes between stored candles of the configured symbols over the last
// window, and the candles still stored open though their period ended, and
// backfill exactly those through the jobs' checks, at low priority through
// the exchange's shared client. Ranges the exchange had no data for are
// left alone; history before a series' first candle is a backfill's.
type gapFiller struct {
	st      *store.Store
	client  *Client
	checks  backfill.Checks // the exchange's pipeline: the jobs' checks and records
	symbols []market.Symbol
	tfs     []market.Timeframe
	window  time.Duration
	logger  *slog.Logger
}

func (g gapFiller) run(ctx context.Context) (int64, error) {
	now := time.Now().UTC()
	var rows int64
	var errs []error
	for _, tf := range g.tfs {
		gaps, err := backfill.FindGaps(ctx, g.st, backfill.GapQuery{
			Exchange: g.client.ID(), Timeframe: tf, Symbols: g.symbols, From: now.Add(-g.window), To: now, Inner: true,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(gaps) == 0 {
			continue
		}
		b, err := backfill.New(backfill.Options{
			Connector: g.client, Sink: g.st, Checks: g.checks, Journal: backfill.NewJournal(g.st), Timeframe: tf,
			Logger: g.logger,
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sum, err := b.Fill(ctx, gaps, false)
		rows += int64(sum.Inserted)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rows, errors.Join(errs...)
}
