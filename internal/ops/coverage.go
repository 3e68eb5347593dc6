package ops

import "time"

// CandleCursor is where a stored candle series stands: what the candle job
// continues from after a restart.
type CandleCursor struct {
	// LastClosed is the open time of the newest candle stored closed; zero
	// when the series has none.
	LastClosed time.Time
	// FirstOpen is the open time of the oldest candle stored open within
	// the asked window; zero when there is none.
	FirstOpen time.Time
}

// Coverage is what one request for a stretch of history asked for and what
// came back: Rows rows with times in [AskedFrom, AskedTo), the first and
// last at First and Last (zero when there were none). Rows = 0 says the
// exchange had nothing there when asked: `mdingest gaps` shows such a
// stretch as "no data at exchange", and gap filling leaves it alone.
type Coverage struct {
	AskedFrom, AskedTo time.Time
	Rows               int
	First, Last        time.Time
}
