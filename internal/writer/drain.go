package writer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// drain writes everything spooled, queued and pending, retrying until ctx
// ends. The intake is closed and no Put is in flight when it runs. Rows
// the database cannot take by then stay in the spool (not an error: they
// are on disk); rows that did not fit in it make it fail, kept past the
// spool's bound (or, with no disk to take them, dropped).
func (w *Writer) drain(ctx context.Context) error {
	w.takeQueued()
	w.bo.Reset()
	for {
		err := w.catchUp(ctx)
		if err == nil {
			w.logger.Info("writer drained")
			return nil
		}
		t := time.NewTimer(w.bo.NextBackOff())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			over, dropped := w.abandon()
			if errors.Is(err, errStillSpooling) {
				err = nil // rows on disk are no failure: not the cause
			}
			return unwritten(over, dropped, err)
		}
	}
}

// unwritten is the error of a stop that left rows outside the database
// and the spool's bound, or nil.
func unwritten(over, dropped int, cause error) error {
	var err error
	switch {
	case dropped > 0 && over > 0:
		err = fmt.Errorf("%w: %d rows dropped, %d rows kept in the spool past store.spool_max_bytes", ErrDrainTimeout, dropped, over)
	case dropped > 0:
		err = fmt.Errorf("%w: %d rows dropped", ErrDrainTimeout, dropped)
	case over > 0:
		err = fmt.Errorf("%w: %d rows did not fit in the spool and were kept past store.spool_max_bytes; the next start replays them",
			ErrDrainTimeout, over)
	default:
		return nil
	}
	if cause != nil {
		return fmt.Errorf("%w (last error: %w)", err, cause)
	}
	return err
}

// catchUp replays the spool, then writes the buffers; nil only when all
// of it reached the database.
func (w *Writer) catchUp(ctx context.Context) error {
	if w.spooling {
		for {
			more, err := w.replayOne(ctx)
			if err != nil {
				return errors.Join(err, w.flushAll(ctx)) // keep the buffers on disk meanwhile
			}
			if !more {
				break
			}
		}
		w.spooling = false
	}
	if err := w.flushAll(ctx); err != nil {
		return err
	}
	if w.spooling {
		return errStillSpooling
	}
	return nil
}

// Drain stops accepting rows (Puts fail with ErrClosed), writes everything
// queued, and returns when done or when ctx ends (its deadline bounds the
// drain; rows left then go to the Spool, if any). Run returns after it.
func (w *Writer) Drain(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.closing)
	}
	started := w.started
	w.mu.Unlock()
	w.inflight.Wait() // Puts return at once now that closing is closed
	if !started {
		if w.sp != nil && w.sp.Pending() > 0 {
			w.spooling = true
		}
		return w.drain(ctx) // Run never ran and never will: drain here
	}
	req := drainRequest{ctx: ctx, done: make(chan error, 1)}
	select {
	case w.drainReq <- req:
		return <-req.done
	case <-w.exited:
		return fmt.Errorf("draining: %w", ErrClosed) // Run already stopped
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrDrainTimeout, ctx.Err())
	}
}
