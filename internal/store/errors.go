package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors.
var (
	ErrClosed = errors.New("store closed")
)

// Retryable reports whether err is a condition that passes, so the batch
// must be kept and written again later: every failure to reach or keep the
// connection (refused, reset, cut, closed cleanly mid-COPY, timed out), and
// every PostgreSQL error except those about a row's own data (SQLSTATE
// classes 22 and 23): the server shutting down, a deadlock, a full disk, a
// schema not migrated yet all pass, and the rows must wait for it.
//
// What is not retryable is permanent: the database refused the rows
// themselves (the store isolates such rows into ops.rejected_rows, so this
// reaches callers only when even that fails), or an error of our own that
// no retry changes.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return !rowLevel(err)
	}
	return connectionLevel(err)
}

// connectionLevel reports a failure of the connection rather than of the
// statement. A proxy or a failover that closes the socket cleanly shows up
// as a bare io.EOF or io.ErrUnexpectedEOF (pgx reads a short message), not
// as a net.Error: those count too.
func connectionLevel(err error) bool {
	for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, context.DeadlineExceeded,
		syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE} {
		if errors.Is(err, target) {
			return true
		}
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr)
}

// rowLevel reports whether err was caused by the values of some row, so
// that loading the batch in parts can isolate it: data exceptions (class
// 22) and integrity violations (class 23).
func rowLevel(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return false
	}
	return pgErr.Code[:2] == "22" || pgErr.Code[:2] == "23"
}

// uniqueViolation reports a duplicate key (23505).
func uniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// deadlock reports a deadlock (40P01) or serialization failure (40001):
// the transaction was aborted and can simply run again.
func deadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
