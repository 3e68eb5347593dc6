// Package ops holds the rows the ingester keeps about its own work, the
// tables of the database's ops schema: request metrics, quality reports,
// rejected rows, job runs, trade holes and backfill coverage; and where a
// stored candle series stands. Those who make the rows (ingest, writer,
// spool, backfill) build them without importing the store that writes them.
package ops

import (
	"time"

	"github.com/google/uuid"
)

// RequestMetric is one HTTP attempt against an exchange.
type RequestMetric struct {
	ID            uuid.UUID
	Time          time.Time
	Exchange      string
	Endpoint      string
	HTTPStatus    int // 0: no response
	Latency       time.Duration
	Attempt       int
	Outcome       string
	ErrorCategory string
}

// QualityReport is the verdict on one validated batch.
type QualityReport struct {
	ID           uuid.UUID
	Time         time.Time
	Exchange     string
	Symbol       string
	DataType     string
	RowsTotal    int
	RowsRejected int
	Completeness float64
	Accuracy     float64
	Consistency  float64
	Timeliness   float64
	Validity     float64
	Uniqueness   float64
	Score        float64
	Passed       bool
	Issues       []byte // JSON array
}

// RejectedRow is a row kept whole because it failed validation, the
// database refused it, or it conflicts with a stored row. Payload is JSON
// when it is JSON, raw bytes otherwise.
type RejectedRow struct {
	ID       uuid.UUID
	Time     time.Time
	Exchange string
	Symbol   string
	DataType string
	Source   string // where it was refused: "validation", "decode", "database", "import"
	// Code is the stable name of the check that refused the row (the
	// quality checks' names, or one of the Code constants), for grouping;
	// empty means the Source's default (CodeFor).
	Code    string
	Reason  string // the human detail, values included
	Payload []byte
}

// Rejection codes of the store and of decoders. The quality checks name
// the others (quality.Check*).
const (
	CodeDecode    = "decode"     // the input could not be parsed
	CodeDBRefused = "db_refused" // the database would refuse the row (a type's range, a constraint)
	CodeConflict  = "conflict"   // a final row stored before with other values; both versions are kept
	CodeOther     = "unclassified"
)

// CodeFor is the code of a rejected row that names none: the one its
// source implies.
func CodeFor(source string) string {
	switch source {
	case "decode":
		return CodeDecode
	case "database":
		return CodeDBRefused
	}
	return CodeOther
}

// JobRun is one scheduled or manual job execution.
type JobRun struct {
	ID       uuid.UUID
	Job      string
	Exchange string
	Instance string
	Started  time.Time
	Finished time.Time
	Outcome  string // "ok", "error", "skipped"
	Rows     int64
	Error    string
}
