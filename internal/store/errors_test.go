package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/pgtest"
	"github.com/mdingest/mdingest/internal/store"
)

func TestRetryable(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("copying into x: %w", &pgconn.PgError{Code: code}) }
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"clean close mid-COPY", fmt.Errorf("copying into x: %w", io.ErrUnexpectedEOF), true},
		{"clean close between messages", fmt.Errorf("merging: %w", io.EOF), true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"broken pipe", fmt.Errorf("x: %w", syscall.EPIPE), true},
		{"closed socket", fmt.Errorf("x: %w", net.ErrClosed), true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"connection failure 08006", pg("08006"), true},
		{"admin shutdown 57P01", pg("57P01"), true},
		{"statement timeout 57014", pg("57014"), true},
		{"deadlock 40P01", pg("40P01"), true},
		{"disk full 53100", pg("53100"), true},
		{"table missing 42P01 (not migrated yet)", pg("42P01"), true},
		{"read-only after failover 25006", pg("25006"), true},
		{"internal error XX000", pg("XX000"), true},
		{"bad value 22P02", pg("22P02"), false},
		{"numeric overflow 22003", pg("22003"), false},
		{"unique violation 23505", pg("23505"), false},
		{"check violation 23514", pg("23514"), false},
		{"our own refusal", errors.New("writing rejected rows: 1 refused"), false},
		{"cancelled by us", fmt.Errorf("x: %w", context.Canceled), false},
		{"nil", nil, false},
	} {
		require.Equal(t, c.want, store.Retryable(c.err), c.name)
	}
}

// A proxy (pgbouncer, a failover) that closes the connection cleanly in the
// middle of a COPY leaves pgx with a bare "unexpected EOF": the batch is
// whole and healthy, and must be written again, not refused.
func TestConnectionCutMidCopyIsRetryable(t *testing.T) {
	ctx := context.Background()
	proxy := pgtest.NewProxy(t, pgtest.MigratedDB(t))
	s, err := store.Open(ctx, proxy.URL(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	batch := make([]market.Candle, 20_000)
	for i := range batch {
		batch[i] = candle("BTC/USDT", i, "100.5", true)
	}

	proxy.CutAfter(256 << 10)
	_, err = s.Candles(ctx, batch)
	require.Error(t, err)
	require.Positive(t, proxy.Cuts(), "the cut happened mid-COPY")
	require.True(t, store.Retryable(err), "a connection cut is not the rows' fault: %v", err)

	proxy.CutAfter(0)
	r, err := s.Candles(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, len(batch), r.Inserted, "nothing of the cut COPY was committed")
}
