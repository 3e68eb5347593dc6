package writer

import (
	"context"
	"fmt"

	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/tables"
)

// Pressure is how full the spool is, as Puts feel it.
type Pressure int

// Pressure levels.
const (
	PressureNone Pressure = iota // spool below the soft limit, or no spool
	PressureSoft                 // low and medium priority market data waits
	PressureFull                 // rows that must go on fit nowhere: every Put waits
)

func (p Pressure) String() string {
	switch p {
	case PressureSoft:
		return "soft"
	case PressureFull:
		return "full"
	}
	return "none"
}

// Pressure returns how full the spool is, for the scheduler and /status.
func (w *Writer) Pressure() Pressure {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	return w.pressure
}

// updatePressure recomputes the level after the spool or the intake
// changed, and wakes waiting Puts when it drops.
func (w *Writer) updatePressure() {
	if w.sp == nil {
		return
	}
	usage := w.sp.Usage()
	level := PressureNone
	switch {
	case w.held:
		level = PressureFull
	case usage >= w.opts.SoftLimit || w.waiting:
		level = PressureSoft
	}
	w.pmu.Lock()
	old := w.pressure
	w.pressure = level
	if level < old {
		close(w.relief)
		w.relief = make(chan struct{})
	}
	w.pmu.Unlock()
	if level == old {
		return
	}
	switch level {
	case PressureFull:
		w.logger.Error("spool full: every write waits until the database takes rows again", "usage", usage)
	case PressureSoft:
		w.logger.Warn("spool filling: low and medium priority market data waits", "usage", usage, "soft_limit", w.opts.SoftLimit)
	default:
		w.logger.Info("spool pressure relieved: all writes go on", "usage", usage)
	}
}

// admit makes a Put wait while the spool's pressure says its rows must:
// see the package comment.
func (w *Writer) admit(ctx context.Context, table tables.Descriptor) error {
	prio := priority.From(ctx)
	counted := false
	for {
		select {
		case <-w.stopping:
			return nil // what jobs fetched before the stop is kept for the drain
		default:
		}
		w.pmu.Lock()
		level, relief := w.pressure, w.relief
		w.pmu.Unlock()
		if !waits(level, table, prio) {
			return nil
		}
		if !counted {
			w.m.paused.WithLabelValues(prio.String()).Inc()
			counted = true
		}
		select {
		case <-relief:
		case <-w.stopping:
		case <-w.closing:
			return fmt.Errorf("queueing %s: %w", table.Name(), ErrClosed)
		case <-ctx.Done():
			return fmt.Errorf("queueing %s (spool %s): %w", table.Name(), level, ctx.Err())
		}
	}
}

func waits(level Pressure, table tables.Descriptor, prio priority.Priority) bool {
	switch level {
	case PressureFull:
		return true
	case PressureSoft:
		return lowTier(table, prio)
	}
	return false
}

// lowTier reports rows that pause first: market data of Low or Medium
// priority. They wait at the soft limit, and their batches are spooled
// only below it, so the room above stays for the tiers that go on.
func lowTier(table tables.Descriptor, prio priority.Priority) bool {
	return table.MarketData() && prio <= priority.Medium
}
