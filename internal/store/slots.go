package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Slots are session advisory locks in one namespace: a process holds one
// for as long as its session lives, and the slots held count the
// processes. The session is the caller's own connection, not the pool's:
// the lock must live exactly as long as the process's claim.

// ClaimSlot takes the first free slot of namespace key below n on conn,
// and returns it; ok is false when all n are held.
func ClaimSlot(ctx context.Context, conn *pgx.Conn, key int32, n int) (slot int, ok bool, err error) {
	for slot := range n {
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, key, int32(slot)).Scan(&ok); err != nil {
			return 0, false, fmt.Errorf("taking a slot: %w", err)
		}
		if ok {
			return slot, true, nil
		}
	}
	return 0, false, nil
}

// CountSlots returns the slots of namespace key held in conn's database,
// by any session.
func CountSlots(ctx context.Context, conn *pgx.Conn, key int32) (int, error) {
	var n int
	err := conn.QueryRow(ctx, `
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = $1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, int64(key)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting the slots held: %w", err)
	}
	return n, nil
}
