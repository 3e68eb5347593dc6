package store

import (
	"context"
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors.
var (
	ErrClosed = errors.New("store closed")
)

// Retryable reports whether err is a condition that passes (the database
// restarting, a lost connection, a deadlock) so the batch should be kept
// and written again later. Unknown errors are permanent.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"40", // serialization failure, deadlock
			"53", // insufficient resources
			"58": // system error
			return true
		case "57": // operator intervention: shutdown, crash, cannot connect now
			return pgErr.Code != "57014" // query_canceled is ours
		}
		return false
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
	if !errors.As(err, &pgErr) {
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
