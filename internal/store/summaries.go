package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// QualityFilter selects quality reports: written at or after Since, of
// Exchange and Symbol when they are set.
type QualityFilter struct {
	Since    time.Time
	Exchange string
	Symbol   string
}

// QualitySummary is one exchange/symbol/data type's quality since a time,
// from ops.quality_reports (one report per checked batch). The JSON names
// are those of `mdingest quality -o json`.
type QualitySummary struct {
	Exchange     string  `json:"exchange"`
	Symbol       string  `json:"symbol"`
	DataType     string  `json:"data_type"`
	Batches      int64   `json:"batches"`
	AvgScore     float64 `json:"avg_score"`
	MinScore     float64 `json:"min_score"`
	Failed       int64   `json:"failed"` // batches that did not pass
	RowsTotal    int64   `json:"rows_total"`
	RowsRejected int64   `json:"rows_rejected"`
	// Conflicts are rows found stored before with other values (final
	// candles, trades), from ops.rejected_rows, in the same period.
	Conflicts  int64     `json:"conflicts"`
	LastReport time.Time `json:"last_report"`
}

// A candle report's data type carries its timeframe ("ohlcv:1m"); a
// conflict's payload does.
const qualitySQL = `SELECT q.exchange, q.symbol, q.data_type, count(*), avg(q.score), min(q.score),
	count(*) FILTER (WHERE NOT q.passed), coalesce(sum(q.rows_total), 0), coalesce(sum(q.rows_rejected), 0),
	(SELECT count(*) FROM ops.rejected_rows r
	 WHERE r.code = 'conflict' AND r.ts >= $1 AND r.exchange = q.exchange AND r.symbol = q.symbol
	   AND r.data_type = split_part(q.data_type, ':', 1)
	   AND coalesce(r.payload->>'timeframe', '') = split_part(q.data_type, ':', 2)),
	max(q.ts)
FROM ops.quality_reports q WHERE q.ts >= $1 AND ($2 = '' OR q.exchange = $2) AND ($3 = '' OR q.symbol = $3)
GROUP BY q.exchange, q.symbol, q.data_type
ORDER BY q.exchange, q.symbol, q.data_type`

// QualitySummaries returns the quality summary of the reports f selects,
// ordered by exchange, symbol and data type.
func (s *Store) QualitySummaries(ctx context.Context, f QualityFilter) ([]QualitySummary, error) {
	rows, err := s.pool.Query(ctx, qualitySQL, f.Since, f.Exchange, f.Symbol)
	if err != nil {
		return nil, fmt.Errorf("querying quality reports: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[QualitySummary])
	if err != nil {
		return nil, fmt.Errorf("reading quality reports: %w", err)
	}
	for i := range out {
		out[i].LastReport = out[i].LastReport.UTC()
	}
	return out, nil
}

// JobSummary is one scheduler job's recent record in ops.job_runs: what
// `mdingest status` shows when no daemon answers (its JSON names too).
type JobSummary struct {
	Job         string     `json:"job"`
	Exchange    string     `json:"exchange"`
	LastSuccess *time.Time `json:"last_success"` // nil: none in the period
	LastOutcome string     `json:"last_outcome"`
	Errors      int64      `json:"errors"`
}

const jobSummarySQL = `SELECT job, exchange, max(finished_at) FILTER (WHERE outcome = 'ok'),
	(array_agg(outcome ORDER BY started_at DESC))[1], count(*) FILTER (WHERE outcome = 'error')
FROM ops.job_runs WHERE started_at > $1 GROUP BY 1, 2 ORDER BY 2, 1`

// JobSummaries returns each job's runs started after since, ordered by
// exchange and job.
func (s *Store) JobSummaries(ctx context.Context, since time.Time) ([]JobSummary, error) {
	rows, err := s.pool.Query(ctx, jobSummarySQL, since)
	if err != nil {
		return nil, fmt.Errorf("querying job runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[JobSummary])
	if err != nil {
		return nil, fmt.Errorf("reading job runs: %w", err)
	}
	for i := range out {
		if t := out[i].LastSuccess; t != nil {
			*t = t.UTC()
		}
	}
	return out, nil
}
