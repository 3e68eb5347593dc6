// Package report renders for the CLI the summaries the store reads out of
// the ops tables: the quality of what was ingested, per exchange, symbol
// and data type, and the scheduler's recent job runs.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/mdingest/mdingest/internal/store"
)

// Render writes rows as an aligned table, or a line saying there are none.
func Render(w io.Writer, rows []store.QualitySummary) error {
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
func RenderCSV(w io.Writer, rows []store.QualitySummary) error {
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
func RenderJSON(w io.Writer, rows []store.QualitySummary) error {
	if rows == nil {
		rows = []store.QualitySummary{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rows); err != nil {
		return fmt.Errorf("writing quality JSON: %w", err)
	}
	return nil
}

// RenderJobRuns writes runs as an aligned table; errorsLabel heads the
// error count's column (e.g. "ERRORS (7d)").
func RenderJobRuns(w io.Writer, runs []store.JobSummary, errorsLabel string) error {
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
