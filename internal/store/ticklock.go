package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// queryTimeout bounds a lock query on the open session.
const queryTimeout = 10 * time.Second

// ErrLocksUnavailable: the lock session is down and waits before trying
// to connect again.
var ErrLocksUnavailable = errors.New("tick lock session unavailable")

// TickLocks takes the scheduler's job ticks with PostgreSQL advisory locks,
// so that instances sharing a database run each job once per tick without
// Redis. The locks live on one session of their own (taken out of the
// pool), held until the end of their tick, then given up; if the session
// dies, PostgreSQL releases them all.
//
// It implements scheduler.TickLocker. Safe for concurrent use.
type TickLocks struct {
	st      *Store
	backoff time.Duration

	mu      sync.Mutex
	conn    *pgx.Conn
	gen     int                   // bumped when the session is replaced: older locks died with it
	held    map[int64]*time.Timer // lock id -> its end
	leases  map[int64]bool        // lock ids held until given up
	retryAt time.Time             // after a failed connect, fail fast until then
	closed  bool
}

// NewTickLocks returns the advisory tick locks of st's database. The
// session connects at the first TryLock.
func NewTickLocks(st *Store) *TickLocks {
	return &TickLocks{st: st, backoff: 2 * time.Second, held: map[int64]*time.Timer{}, leases: map[int64]bool{}}
}

// Name implements scheduler.TickLocker.
func (*TickLocks) Name() string { return "postgres" }

// lockID maps a tick key to the bigint of pg_try_advisory_lock.
func lockID(key string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("mdingest tick " + key))
	return int64(h.Sum64()) // a hash: wrapping into the sign bit is fine
}

// TryLock implements scheduler.TickLocker.
func (l *TickLocks) TryLock(ctx context.Context, key string, until time.Time) (func(context.Context) error, bool, error) {
	id := lockID(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, false, ErrClosed
	}
	if _, ours := l.held[id]; ours {
		return nil, false, nil // taken already, if by this instance (advisory locks would let it take it twice)
	}
	conn, err := l.session(ctx)
	if err != nil {
		return nil, false, err
	}
	// Not the caller's short deadline: a query cut off by it would close
	// the session, and with it every tick this instance holds, which
	// another instance could then run again. The lock answers at once;
	// only a dead connection takes this long.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
	defer cancel()
	var taken bool
	if err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&taken); err != nil {
		l.drop()
		return nil, false, fmt.Errorf("taking tick lock in postgres: %w", err)
	}
	if !taken {
		return nil, false, nil
	}
	gen := l.gen
	l.held[id] = time.AfterFunc(time.Until(until), func() { l.unlock(id, gen) })
	return func(context.Context) error {
		l.unlock(id, gen)
		return nil
	}, true, nil
}

// session returns the lock session, connecting it if needed.
func (l *TickLocks) session(ctx context.Context) (*pgx.Conn, error) {
	if l.conn != nil && !l.conn.IsClosed() {
		return l.conn, nil
	}
	l.drop()
	if time.Now().Before(l.retryAt) {
		return nil, ErrLocksUnavailable
	}
	pc, err := l.st.pool.Acquire(ctx)
	if err != nil {
		l.retryAt = time.Now().Add(l.backoff)
		return nil, fmt.Errorf("connecting the tick lock session: %w", err)
	}
	l.conn = pc.Hijack()
	l.gen++
	return l.conn, nil
}

// drop forgets a broken session; its locks went with it.
func (l *TickLocks) drop() {
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = l.conn.Close(ctx)
		cancel()
		l.conn = nil
	}
	for id, t := range l.held {
		t.Stop()
		delete(l.held, id)
	}
	clear(l.leases)
}

// Lease takes key's lock until ReleaseLease or the session's end: one
// instance at a time holds it. Holding it already is success. An error
// says the database cannot answer, not that another holds it.
func (l *TickLocks) Lease(ctx context.Context, key string) (bool, error) {
	id := lockID("lease " + key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, ErrClosed
	}
	conn, err := l.session(ctx)
	if err != nil {
		return false, err
	}
	if l.leases[id] {
		return true, nil
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
	defer cancel()
	var taken bool
	if err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&taken); err != nil {
		l.drop()
		return false, fmt.Errorf("taking lease %s in postgres: %w", key, err)
	}
	if taken {
		l.leases[id] = true
	}
	return taken, nil
}

// ReleaseLease gives key's lease up, if this instance holds it.
func (l *TickLocks) ReleaseLease(key string) {
	id := lockID("lease " + key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leases[id] || l.conn == nil {
		return
	}
	delete(l.leases, id)
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, id); err != nil {
		l.drop()
	}
}

// unlock gives a tick up, unless the session that held it is gone.
func (l *TickLocks) unlock(id int64, gen int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.held[id]
	if !ok || gen != l.gen || l.conn == nil {
		return
	}
	t.Stop()
	delete(l.held, id)
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, id); err != nil {
		l.drop()
	}
}

// Close ends the session, releasing every lock.
func (l *TickLocks) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.drop()
}
