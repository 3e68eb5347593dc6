package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/mdingest/mdingest/internal/exchange"
	"github.com/mdingest/mdingest/internal/market"
	"github.com/mdingest/mdingest/internal/ops"
	"github.com/mdingest/mdingest/internal/priority"
	"github.com/mdingest/mdingest/internal/store"
)

// HoleLog is what filling trade holes needs of the database (*store.Store).
type HoleLog interface {
	TradeHoles(ctx context.Context, q store.HoleQuery) ([]ops.TradeHole, error)
	SetTradeHoleStatus(ctx context.Context, id int64, status string, rows int64, detail string) error
}

// HoleSummary is what FillTradeHoles did.
type HoleSummary struct {
	Holes      int // open holes asked for
	Filled     int // fetched from the trade before to the trade after
	Unfillable int // the exchange cannot serve them (status unfillable, with why)
	Failed     int // stopped by an error; still open, a later run tries again
	Trades     int // trades stored
	Requests   int
}

func (s HoleSummary) String() string {
	return fmt.Sprintf("%d trade holes: %d filled, %d unfillable, %d failed; %d trades stored in %d requests",
		s.Holes, s.Filled, s.Unfillable, s.Failed, s.Trades, s.Requests)
}

// FillTradeHoles fetches the trades of each open hole where the exchange
// can, at low priority: paging from the trade before the hole
// (exchange.TradePager) until the trade after it, storing what lies
// between. Each hole is then marked filled, or unfillable with why: the
// exchange serves only its latest trades, or no longer serves these. A
// hole whose fetch fails stays open.
func (b *Backfiller) FillTradeHoles(ctx context.Context, log HoleLog, holes []ops.TradeHole) (HoleSummary, error) {
	ctx = priority.With(ctx, priority.Low)
	sum := HoleSummary{}
	var errs []error
	pager, canPage := exchange.PagerOf(b.conn)
	for _, h := range holes {
		if h.Exchange != b.exchange {
			return sum, fmt.Errorf("%w: trade hole of %s", ErrMismatch, h.Exchange)
		}
		if h.Status != ops.HoleOpen {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		sum.Holes++
		status, rows, detail := ops.HoleUnfillable, 0, b.exchange+" serves only its latest trades"
		if canPage {
			var err error
			status, rows, detail, err = b.fillHole(ctx, pager, h, &sum)
			sum.Trades += rows
			if err != nil {
				sum.Failed++
				errs = append(errs, fmt.Errorf("trade hole %d (%s from %s): %w", h.ID, h.Symbol, h.From.UTC().Format(time.RFC3339), err))
				continue
			}
		}
		pctx, cancel := persistContext(ctx)
		err := log.SetTradeHoleStatus(pctx, h.ID, status, int64(rows), detail)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if status == ops.HoleFilled {
			sum.Filled++
		} else {
			sum.Unfillable++
		}
		b.log.Info("trade hole", "symbol", h.Symbol, "from", h.From, "to", h.To, "status", status, "trades", rows, "detail", detail)
	}
	return sum, errors.Join(errs...)
}

// fillHole pages one hole. It returns the hole's new status, the trades
// stored and the detail for ops.trade_holes.
func (b *Backfiller) fillHole(ctx context.Context, pager exchange.TradePager, h ops.TradeHole, sum *HoleSummary) (string, int, string, error) {
	sym := market.Symbol(h.Symbol)
	cursor := exchange.TradeCursor{ID: h.FromID, Time: h.From}
	inside := func(t market.Trade) bool {
		if h.ToID == "" {
			return t.Time.Before(h.To)
		}
		return t.Time.Before(h.To) || t.Time.Equal(h.To) && t.ID != h.ToID && exchange.CompareTradeIDs(t.ID, h.ToID) < 0
	}
	rows, lost, reached := 0, false, false
	for {
		pg, err := pager.TradesAfter(ctx, sym, cursor, b.tradePg)
		sum.Requests++
		if err != nil {
			return "", rows, "", fmt.Errorf("fetching trades: %w", err)
		}
		lost = lost || pg.Lost
		var in []market.Trade
		for _, t := range pg.Trades {
			if !cursor.After(t) {
				continue
			}
			if !inside(t) {
				reached = true
				break
			}
			if t.Exchange == "" {
				t.Exchange = b.exchange
			}
			in = append(in, t)
		}
		if len(in) > 0 {
			pctx, cancel := persistContext(ctx)
			_, err := b.sink.Trades(pctx, in)
			cancel()
			if err != nil {
				return "", rows, "", fmt.Errorf("storing trades: %w", err)
			}
			rows += len(in)
		}
		if reached || !pg.More || len(pg.Trades) == 0 {
			break
		}
		cursor = exchange.CursorOf(pg.Trades[len(pg.Trades)-1])
	}
	switch {
	case lost:
		return ops.HoleUnfillable, rows, fmt.Sprintf("%s no longer serves all of them; %d trades stored", b.exchange, rows), nil
	case reached || h.ToID == "":
		return ops.HoleFilled, rows, fmt.Sprintf("%d trades stored", rows), nil
	}
	return ops.HoleUnfillable, rows, fmt.Sprintf("%s served nothing up to the end of the hole; %d trades stored", b.exchange, rows), nil
}

// RenderTradeHoles writes holes as an aligned table (times in RFC 3339,
// UTC), or a line saying there are none.
func RenderTradeHoles(w io.Writer, holes []ops.TradeHole) error {
	if len(holes) == 0 {
		_, err := fmt.Fprintln(w, "no trade holes")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EXCHANGE\tSYMBOL\tFROM\tTO\tMISSED\tREASON\tSTATUS\tDETAIL")
	for _, h := range holes {
		missed := "?"
		if h.Missed > 0 {
			missed = fmt.Sprint(h.Missed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Exchange, h.Symbol,
			h.From.UTC().Format(time.RFC3339Nano), h.To.UTC().Format(time.RFC3339Nano), missed, h.Reason, h.Status, h.Detail)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing trade holes table: %w", err)
	}
	return nil
}
