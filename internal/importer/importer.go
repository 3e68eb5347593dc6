// Package importer loads candle files through the same checks and loader
// as the daemon: one goroutine parses while another loads, with at most two
// batches in flight, so two cores work at once and memory stays flat.
package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mdingest/mdingest/internal/candlecsv"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/store"
)

// Loader is the part of the store an import needs.
type Loader interface {
	Candles(ctx context.Context, rows []market.Candle) (store.Result, error)
	RejectedRows(ctx context.Context, rows []store.RejectedRow) (store.Result, error)
}

// Summary is what an import did.
type Summary struct {
	Files      int
	Read       int // data rows read (header rows excluded)
	Inserted   int
	Updated    int
	Duplicates int
	Rejected   int // failed the basic checks or refused by the database
	Elapsed    time.Duration
}

func (s Summary) String() string {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Read) / s.Elapsed.Seconds()
	}
	return fmt.Sprintf("%d files: %d rows read, %d inserted, %d updated, %d duplicates, %d rejected in %s (%.0f rows/s)",
		s.Files, s.Read, s.Inserted, s.Updated, s.Duplicates, s.Rejected, s.Elapsed.Round(time.Millisecond), rate)
}

// batch is one unit of work between parser and loader.
type batch struct {
	candles []market.Candle
	rejects []store.RejectedRow
}

// Run imports files in order. A file whose published checksum does not
// match is an error before anything of it is loaded.
func Run(ctx context.Context, l Loader, files []string, opts candlecsv.Options, batchSize int, logger *slog.Logger) (Summary, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if batchSize < 1 {
		batchSize = 50_000
	}
	start := time.Now()
	sum := Summary{}
	ch := make(chan batch, 1) // one parsed, one loading: two in flight
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(ch)
		p := &parser{ctx: gctx, out: ch, size: batchSize, opts: opts, cur: batch{candles: make([]market.Candle, 0, batchSize)}}
		for _, f := range files {
			checked, err := candlecsv.VerifyChecksum(f)
			if err != nil {
				return err
			}
			logger.Info("importing", "file", f, "checksum_verified", checked)
			if err := candlecsv.ReadFile(f, opts, p); err != nil {
				return err
			}
			sum.Files++
		}
		return p.flush()
	})
	g.Go(func() error {
		for b := range ch {
			sum.Read += len(b.candles) + len(b.rejects)
			if len(b.rejects) > 0 {
				if _, err := l.RejectedRows(gctx, b.rejects); err != nil {
					return fmt.Errorf("recording rejected rows: %w", err)
				}
				sum.Rejected += len(b.rejects)
			}
			if len(b.candles) == 0 {
				continue
			}
			r, err := l.Candles(gctx, b.candles)
			if err != nil {
				return fmt.Errorf("loading candles: %w", err)
			}
			sum.Inserted += r.Inserted
			sum.Updated += r.Updated
			sum.Duplicates += r.Duplicates
			sum.Rejected += r.Rejected
		}
		return nil
	})
	err := g.Wait()
	sum.Elapsed = time.Since(start)
	return sum, err
}

// parser is the candlecsv.Sink that cuts the stream into batches.
type parser struct {
	ctx  context.Context
	out  chan<- batch
	size int
	opts candlecsv.Options
	cur  batch
}

func (p *parser) Candle(c market.Candle) error {
	p.cur.candles = append(p.cur.candles, c)
	if len(p.cur.candles) >= p.size {
		return p.flush()
	}
	return nil
}

func (p *parser) Reject(r candlecsv.Reject) error {
	payload, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p.cur.rejects = append(p.cur.rejects, store.RejectedRow{
		Time: time.Now(), Exchange: p.opts.Exchange, Symbol: string(p.opts.Symbol), DataType: string(market.TypeOHLCV),
		Source: "import", Reason: r.Reason, Payload: payload,
	})
	return nil
}

func (p *parser) flush() error {
	if len(p.cur.candles) == 0 && len(p.cur.rejects) == 0 {
		return nil
	}
	select {
	case p.out <- p.cur:
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
	p.cur = batch{candles: make([]market.Candle, 0, p.size)}
	return nil
}
