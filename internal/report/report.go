// Package report reads summaries for the CLI out of the ops tables: the
// quality of what was ingested, per exchange, symbol and data type.
package report

import (
	"context"
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
	Exchange     string
	Symbol       string
	DataType     string
	Batches      int64
	AvgScore     float64
	MinScore     float64
	Failed       int64 // batches that did not pass
	RowsTotal    int64
	RowsRejected int64
	// Conflicts are rows found stored before with other values (final
	// candles, trades), from ops.rejected_rows, in the same period.
	Conflicts  int64
	LastReport time.Time
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
FROM ops.quality_reports q WHERE q.ts >= $1
GROUP BY q.exchange, q.symbol, q.data_type
ORDER BY q.exchange, q.symbol, q.data_type`

// Query returns the quality summary of the reports written at or after
// since, ordered by exchange, symbol and data type.
func Query(ctx context.Context, db Querier, since time.Time) ([]Quality, error) {
	rows, err := db.Query(ctx, qualitySQL, since)
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
