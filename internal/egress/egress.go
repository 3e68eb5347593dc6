// Package egress is about the IP a process's requests leave from: an
// exchange's rate budget belongs to that IP. It names the egress (by
// configuration, else after the host) and counts the mdingest processes
// that send from it, so that without shared state (Redis) each can keep to
// its share of every budget.
//
// The count needs no table: each process holds one PostgreSQL session
// advisory lock in a range of slots named after its egress, for as long
// as it runs, and counts the slots held. A process that dies loses its
// session, and with it its slot.
package egress

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mdingest/mdingest/internal/store"
)

// Defaults.
const (
	// DefaultInterval is how often the count is refreshed: within it, the
	// processes on an egress learn that another has joined.
	DefaultInterval = time.Second
	// Slots bounds the processes counted on one egress.
	Slots = 1024
	// reconnectGrace is how many intervals after reconnecting a process
	// keeps its count from before the outage at least.
	reconnectGrace = 5
)

// ErrNoSlot: every slot of the egress is held.
var ErrNoSlot = errors.New("every egress slot is taken")

// ID returns the configured egress id (config key egress_id, checked
// there), or one derived from the host: the processes on one machine share
// its IP, those on other machines do not.
func ID(configured string) string {
	if configured != "" {
		return configured
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h[:min(len(h), 64)]
}

// Options configures Peers.
type Options struct {
	DatabaseURL string // the database every instance uses
	Egress      string // required
	Interval    time.Duration
	// OnChange is called with the new count (at least 1) when it changes.
	OnChange func(n int)
	// OnJoin is called when this process joins an egress others already
	// send from, with how long to hold back: they learn of it only at
	// their next count, and until then still spend their larger shares.
	OnJoin func(hold time.Duration)
	// OnFirstCount is called once, after the process's first count, with
	// that count: until then it cannot know whether it sends alone.
	OnFirstCount func(n int)
	Logger       *slog.Logger
}

// Peers counts the processes on one egress, this one included.
type Peers struct {
	opts Options
	key  int32 // the egress's advisory-lock namespace
	log  *slog.Logger

	mu      sync.Mutex
	n       int
	counted bool // a session has counted before
	first   sync.Once
}

// New returns a Peers counting 1 until Run learns better.
func New(opts Options) (*Peers, error) {
	if opts.Egress == "" {
		return nil, errors.New("egress id is required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Peers{opts: opts, key: Key(opts.Egress), log: log.With("component", "egress", "egress", opts.Egress), n: 1}, nil
}

// Key is the advisory-lock namespace (the first of the two int4 keys) of
// an egress.
func Key(egress string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte("mdingest/egress/" + egress))
	return int32(h.Sum32() & 0x7fffffff)
}

// Count returns the processes on the egress as last counted; 1 before the
// first count, and the last count while the database is unreachable.
func (p *Peers) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *Peers) set(n int) {
	n = max(n, 1)
	p.mu.Lock()
	changed := n != p.n
	p.n = n
	p.mu.Unlock()
	if changed {
		p.log.Info("processes on this egress", "count", n)
		if p.opts.OnChange != nil {
			p.opts.OnChange(n)
		}
	}
}

// Run holds a slot and refreshes the count until ctx ends, reconnecting
// when the database goes away. It returns nil when ctx ends.
func (p *Peers) Run(ctx context.Context) error {
	failing := false
	for {
		counted, err := p.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if counted {
			failing = false // a new outage: log it again
		}
		if !failing {
			p.log.Warn("cannot count the processes on this egress; keeping the last count", "count", p.Count(), "error", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.opts.Interval):
		}
	}
}

// session connects, takes a slot and counts until the connection fails or
// ctx ends, and says whether it counted at all. Closing the connection
// releases the slot.
func (p *Peers) session(ctx context.Context) (counted bool, err error) {
	conn, err := pgx.Connect(ctx, p.opts.DatabaseURL)
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	slot, err := p.claim(ctx, conn)
	if err != nil {
		return false, err
	}
	p.log.Debug("holding egress slot", "slot", slot)
	// After an outage the others reconnect one by one: until they all can
	// have, a lower count is not believed.
	p.mu.Lock()
	var settled time.Time
	if p.counted {
		settled = time.Now().Add(reconnectGrace * p.opts.Interval)
	}
	p.counted = true
	p.mu.Unlock()
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	for joined := true; ; joined = false {
		n, err := p.count(ctx, conn)
		if err != nil {
			return !joined, err
		}
		if time.Now().Before(settled) {
			n = max(n, p.Count())
		}
		if joined && n > 1 && p.opts.OnJoin != nil {
			p.opts.OnJoin(2 * p.opts.Interval)
		}
		p.set(n)
		if p.opts.OnFirstCount != nil {
			p.first.Do(func() { p.opts.OnFirstCount(n) })
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-t.C:
		}
	}
}

// claim takes the first free slot of the egress.
func (p *Peers) claim(ctx context.Context, conn *pgx.Conn) (int, error) {
	slot, ok, err := store.ClaimSlot(ctx, conn, p.key, Slots)
	if err != nil {
		return 0, fmt.Errorf("taking an egress slot: %w", err)
	}
	if !ok {
		return 0, ErrNoSlot
	}
	return slot, nil
}

// count returns the slots of the egress held in this database.
func (p *Peers) count(ctx context.Context, conn *pgx.Conn) (int, error) {
	n, err := store.CountSlots(ctx, conn, p.key)
	if err != nil {
		return 0, fmt.Errorf("counting the processes on the egress: %w", err)
	}
	return n, nil
}
