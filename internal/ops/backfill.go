package ops

import (
	"time"

	"github.com/mdingest/mdingest/internal/market"
)

// BackfillProgress is a backfill range's state after a stored page
// (ops.backfill_progress): [From, Cursor) has been fetched and stored;
// Rows and Requests are added to the recorded counts.
type BackfillProgress struct {
	Exchange  string
	Symbol    market.Symbol
	Kind      market.DataType
	Timeframe market.Timeframe // "" for trades
	From, To  time.Time
	Cursor    time.Time
	Rows      int64
	Requests  int64
	Done      bool
}
