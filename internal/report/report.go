// Package report reads summaries for the CLI out of the ops tables: the
// quality of what was ingested, per exchange, symbol and data type.
package report

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier is the part of a pgx pool the report needs.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Quality is one exchange/symbol/data type's quality since a time, from
// ops.quality_reports (one report per checked batch).
type Quality struct {
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

// Filter selects the reports: written at or after Since, of Exchange and
// Symbol when they are set.
type Filter struct {
	Since    time.Time
	Exchange string
	Symbol   string
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

// Query returns the quality summary of the reports f selects, ordered by
// exchange, symbol and data type.
func Query(ctx context.Context, db Querier, f Filter) ([]Quality, error) {
	rows, err := db.Query(ctx, qualitySQL, f.Since, f.Exchange, f.Symbol)
	if err != nil {
		return nil, fmt.Errorf("querying quality reports: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Quality])
	if err != nil {
		return nil, fmt.Errorf("reading quality reports: %w", err)
	}
	for i := range out {
		out[i].LastReport = out[i].LastReport.UTC()
	}
	return out, nil
}

// Render writes rows as an aligned table, or a line saying there are none.
func Render(w io.Writer, rows []Quality) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no quality reports in this period")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EXCHANGE\tSYMBOL\tTYPE\tBATCHES\tAVG SCORE\tMIN SCORE\tFAILED\tROWS\tREJECTED\tCONFLICTS\tLAST REPORT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n",
			r.Exchange, r.Symbol, r.DataType, r.Batches, score(r.AvgScore), score(r.MinScore),
			r.Failed, r.RowsTotal, r.RowsRejected, r.Conflicts, r.LastReport.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing quality table: %w", err)
	}
	return nil
}

func score(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

// csvHeader names RenderCSV's columns as the JSON fields are named.
var csvHeader = []string{"exchange", "symbol", "data_type", "batches", "avg_score", "min_score", "failed",
	"rows_total", "rows_rejected", "conflicts", "last_report"}

// RenderCSV writes rows as CSV with a header row; scores at full
// precision, times in RFC 3339.
func RenderCSV(w io.Writer, rows []Quality) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	for _, r := range rows {
		_ = cw.Write([]string{r.Exchange, r.Symbol, r.DataType, strconv.FormatInt(r.Batches, 10),
			strconv.FormatFloat(r.AvgScore, 'g', -1, 64), strconv.FormatFloat(r.MinScore, 'g', -1, 64),
			strconv.FormatInt(r.Failed, 10), strconv.FormatInt(r.RowsTotal, 10), strconv.FormatInt(r.RowsRejected, 10),
			strconv.FormatInt(r.Conflicts, 10), r.LastReport.UTC().Format(time.RFC3339Nano)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing quality CSV: %w", err)
	}
	return nil
}

// RenderJSON writes rows as one indented JSON array ([] when none).
func RenderJSON(w io.Writer, rows []Quality) error {
	if rows == nil {
		rows = []Quality{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rows); err != nil {
		return fmt.Errorf("writing quality JSON: %w", err)
	}
	return nil
}

// JobRuns is one scheduler job's recent record in ops.job_runs: what
// `mdingest status` shows when no daemon answers.
type JobRuns struct {
	Job         string     `json:"job"`
	Exchange    string     `json:"exchange"`
	LastSuccess *time.Time `json:"last_success"` // nil: none in the period
	LastOutcome string     `json:"last_outcome"`
	Errors      int64      `json:"errors"`
}

const jobRunsSQL = `SELECT job, exchange, max(finished_at) FILTER (WHERE outcome = 'ok'),
	(array_agg(outcome ORDER BY started_at DESC))[1], count(*) FILTER (WHERE outcome = 'error')
FROM ops.job_runs WHERE started_at > $1 GROUP BY 1, 2 ORDER BY 2, 1`

// QueryJobRuns returns each job's runs started after since, ordered by
// exchange and job.
func QueryJobRuns(ctx context.Context, db Querier, since time.Time) ([]JobRuns, error) {
	rows, err := db.Query(ctx, jobRunsSQL, since)
	if err != nil {
		return nil, fmt.Errorf("querying job runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[JobRuns])
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

// RenderJobRuns writes runs as an aligned table; errorsLabel heads the
// error count's column (e.g. "ERRORS (7d)").
func RenderJobRuns(w io.Writer, runs []JobRuns, errorsLabel string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "JOB\tEXCHANGE\tLAST SUCCESS\tLAST\t%s\n", errorsLabel)
	for _, r := range runs {
		ok := "never"
		if r.LastSuccess != nil {
			ok = r.LastSuccess.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.Job, r.Exchange, ok, r.LastOutcome, r.Errors)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing job runs: %w", err)
	}
	return nil
}
