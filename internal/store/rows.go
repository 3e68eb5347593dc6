package store

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

// RejectedRow is a row kept whole because it failed validation or the
// database refused it. Payload is JSON when it is JSON, raw bytes otherwise.
type RejectedRow struct {
	ID       uuid.UUID
	Time     time.Time
	Exchange string
	Symbol   string
	DataType string
	Source   string // "validation", "decode", "database", "import"
	Reason   string
	Payload  []byte
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
