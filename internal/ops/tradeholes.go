package ops

import "time"

// Reasons for a trade hole (ops.trade_holes.reason).
const (
	HoleNotServed = "not_served" // the exchange no longer serves the trades after the cursor
	HoleNoOverlap = "no_overlap" // two polls of a latest-trades-only exchange did not overlap
	HoleOutage    = "outage"     // polls failed, or the daemon or the database was away
)

// States of a trade hole (ops.trade_holes.status).
const (
	HoleOpen       = "open"
	HoleFilled     = "filled"     // a backfill fetched the trades of the span
	HoleUnfillable = "unfillable" // the exchange cannot serve them (detail says why)
)

// TradeHole is a span in which trades could not be captured: the trades
// strictly between the last one kept before it (From, FromID) and the
// first kept after it (To, ToID; ToID empty when none came yet).
type TradeHole struct {
	ID         int64 // assigned by the database
	Exchange   string
	Symbol     string
	From       time.Time
	FromID     string
	To         time.Time
	ToID       string
	Reason     string
	Missed     int64 // estimated trades lost; 0: unknown
	Detected   time.Time
	Status     string
	FilledAt   time.Time
	FilledRows int64
	Detail     string
}
