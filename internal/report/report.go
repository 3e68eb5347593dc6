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
	LastReport   time.Time
}

const qualitySQL = `SELECT exchange, symbol, data_type, count(*), avg(score), min(score),
	count(*) FILTER (WHERE NOT passed), coalesce(sum(rows_total), 0), coalesce(sum(rows_rejected), 0), max(ts)
FROM ops.quality_reports WHERE ts >= $1
GROUP BY exchange, symbol, data_type
ORDER BY exchange, symbol, data_type`

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
	fmt.Fprintln(tw, "EXCHANGE\tSYMBOL\tTYPE\tBATCHES\tAVG SCORE\tMIN SCORE\tFAILED\tROWS\tREJECTED\tLAST REPORT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%s\n",
			r.Exchange, r.Symbol, r.DataType, r.Batches, score(r.AvgScore), score(r.MinScore),
			r.Failed, r.RowsTotal, r.RowsRejected, r.LastReport.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing quality table: %w", err)
	}
	return nil
}

func score(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }
