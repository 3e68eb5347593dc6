package writer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
	"github.com/mdingest/mdingest/internal/writer"
)

// writes records what Synchronous hands it; err fails every write.
type writes struct {
	got []tables.Rows
	err error
}

func (w *writes) Write(_ context.Context, rows tables.Rows) (store.Result, error) {
	w.got = append(w.got, rows)
	return store.Result{Requested: rows.Len()}, w.err
}

// Synchronous writes each batch before Put returns, names the table when
// that fails, and skips empty batches.
func TestSynchronous(t *testing.T) {
	w := &writes{}
	s := writer.Synchronous{Store: w}
	ctx := context.Background()
	rows := tables.Tickers.Rows([]market.Ticker{{Exchange: "binance", Symbol: "BTC/USDT"}})
	require.NoError(t, s.Put(ctx, time.Now(), rows))
	require.NoError(t, s.Put(ctx, time.Now(), tables.Candles.Rows(nil)))
	require.Equal(t, []tables.Rows{rows}, w.got)

	w.err = errors.New("connection refused")
	err := s.Put(ctx, time.Now(), rows)
	require.ErrorIs(t, err, w.err)
	require.ErrorContains(t, err, "writing tickers")
}
