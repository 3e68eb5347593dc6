package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdingest/mdingest/internal/report"
	"github.com/mdingest/mdingest/internal/store"
)

type statusFlags struct{ listen, output string }

func newStatusCmd(e *env) *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status [--listen ADDR] [-o table|json]",
		Short: "scheduler jobs, circuit states, last success per exchange, cache backend, spool (a table; -o json for JSON)",
		Long: `Asks the running daemon (its /status on --listen, by default the configuration's listen)
and prints its scheduler jobs, each exchange's circuit and last success, the cache
backend, the writer queue and the disk spool, as tables; -o json prints /status as is.

When no daemon answers, it says so on stderr and prints each job's last runs from the
database (ops.job_runs, the last 7 days) instead.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), e, f) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", "", "the daemon's HTTP address (default: the configuration's listen, 127.0.0.1:9108)")
	fs.StringVarP(&f.output, "output", "o", outTable, "output format: table or json")
	completeValues(cmd, "output", outTable, outJSON)
	return cmd
}

// jobRunsWindow is how far back the database fallback looks.
const jobRunsWindow = 7 * 24 * time.Hour

func runStatus(ctx context.Context, e *env, f statusFlags) error {
	if err := parseOutput(f.output, outTable, outJSON); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	listen := cfg.Listen
	if e.set("listen") {
		listen = f.listen
	}
	body, err := daemonStatus(ctx, listen)
	if err == nil {
		if f.output == outJSON {
			var out bytes.Buffer
			if err := json.Indent(&out, body, "", "  "); err != nil {
				return fmt.Errorf("decoding /status: %w", err)
			}
			_, err = e.stdout.Write(out.Bytes())
			return err
		}
		var doc statusDoc
		if err := json.Unmarshal(body, &doc); err != nil {
			return fmt.Errorf("decoding /status: %w", err)
		}
		return doc.render(e.stdout, time.Now())
	}
	fmt.Fprintf(e.stderr, "no daemon answering on %s (%v); last runs from the database:\n", listen, err)
	st, err := openStore(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.JobSummaries(ctx, time.Now().Add(-jobRunsWindow))
	if err != nil {
		return err
	}
	if f.output == outJSON {
		if runs == nil {
			runs = []store.JobSummary{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(runs)
	}
	return report.RenderJobRuns(e.stdout, runs, "ERRORS (7d)")
}

func daemonStatus(ctx context.Context, listen string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listen+"/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/status answered %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 8<<20))
}

// statusDoc is the part of the daemon's /status the table shows; -o json
// shows all of it.
type statusDoc struct {
	Jobs []struct {
		Name                string    `json:"name"`
		Exchange            string    `json:"exchange"`
		Tier                string    `json:"tier"`
		Interval            string    `json:"interval"`
		Runs                int64     `json:"runs"`
		Waiting             bool      `json:"waiting"`
		ConsecutiveFailures int       `json:"consecutive_failures"`
		BackoffEvery        int       `json:"backoff_every"`
		LastOutcome         string    `json:"last_outcome"`
		LastRows            int64     `json:"last_rows"`
		LastError           string    `json:"last_error"`
		LastSuccess         time.Time `json:"last_success"`
		NextRun             time.Time `json:"next_run"`
	} `json:"jobs"`
	Circuits map[string]struct {
		State       string    `json:"state"`
		FrozenUntil time.Time `json:"frozen_until"`
		Waiting     int       `json:"waiting"`
	} `json:"circuits"`
	Exchanges map[string]struct {
		Degraded       bool      `json:"degraded"`
		Reason         string    `json:"reason"`
		MarketsRetryAt time.Time `json:"markets_retry_at"`
	} `json:"exchanges"`
	LastSuccess map[string]time.Time `json:"last_success"`
	Cache       string               `json:"cache"`
	QueueDepth  int                  `json:"queue_depth"`
	Spool       struct {
		PendingBatches     int      `json:"pending_batches"`
		Pressure           string   `json:"pressure"`
		Dir                string   `json:"dir"`
		Usage              *float64 `json:"usage"` // nil: no disk spool
		QuarantinedBatches int      `json:"quarantined_batches"`
		CorruptRecords     int      `json:"corrupt_records"`
	} `json:"spool"`
}

// render writes the jobs, the exchanges, and the cache, queue and spool.
func (d statusDoc) render(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tEXCHANGE\tTIER\tEVERY\tRUNS\tLAST\tROWS\tLAST SUCCESS\tFAILURES\tNEXT RUN\tERROR")
	for _, j := range d.Jobs {
		last := j.LastOutcome
		switch {
		case j.Waiting:
			last = "waiting"
		case last == "":
			last = "-"
		}
		failures := fmt.Sprint(j.ConsecutiveFailures)
		if j.BackoffEvery > 1 {
			failures += fmt.Sprintf(" (every %dth tick)", j.BackoffEvery)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", j.Name, dash(j.Exchange), j.Tier, compact(j.Interval), j.Runs,
			last, j.LastRows, ago(now, j.LastSuccess), failures, until(now, j.NextRun), oneLine(j.LastError, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	ids := make([]string, 0, len(d.Circuits))
	for id := range d.Circuits {
		ids = append(ids, id)
	}
	for id := range d.LastSuccess {
		if _, ok := d.Circuits[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	fmt.Fprintln(tw, "EXCHANGE\tCIRCUIT\tLAST SUCCESS\tRATE LIMIT\tHEALTH")
	for _, id := range ids {
		c := d.Circuits[id]
		limit := "ok"
		if c.FrozenUntil.After(now) {
			limit = "frozen " + until(now, c.FrozenUntil)
		}
		if c.Waiting > 0 {
			limit += fmt.Sprintf(", %d waiting", c.Waiting)
		}
		health := "-" // a daemon older than the exchanges section
		if e, ok := d.Exchanges[id]; ok {
			health = "ok"
			if e.Degraded {
				health = "degraded: " + e.Reason
			}
			if !e.MarketsRetryAt.IsZero() {
				health += ", retry " + until(now, e.MarketsRetryAt)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, dash(c.State), ago(now, d.LastSuccess[id]), limit, health)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	fmt.Fprintf(tw, "cache\t%s\n", dash(d.Cache))
	fmt.Fprintf(tw, "writer queue\t%d batches\n", d.QueueDepth)
	sp := d.Spool
	if sp.Usage == nil {
		fmt.Fprintf(tw, "spool\toff (store.spool_max_bytes: 0); %d batches pending\n", sp.PendingBatches)
	} else {
		fmt.Fprintf(tw, "spool\t%d batches pending, %.1f%% full, pressure %s, %d quarantined, %d corrupt records\n",
			sp.PendingBatches, 100**sp.Usage, dash(sp.Pressure), sp.QuarantinedBatches, sp.CorruptRecords)
		fmt.Fprintf(tw, "spool dir\t%s\n", sp.Dir)
	}
	return tw.Flush()
}

// ago is how long before now t was: "never" for none.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return roundAge(now.Sub(t)) + " ago"
}

// until is how long after now t is: "-" for none.
func until(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if !t.After(now) {
		return "now"
	}
	return "in " + roundAge(t.Sub(now))
}

// roundAge keeps a duration's two leading units: 3s, 4m10s, 2h5m, 3d4h
// (1m, 2h, 3d when the second is zero).
func roundAge(d time.Duration) string {
	d = d.Round(time.Second)
	two := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return two(int64(d/time.Minute), "m", int64(d%time.Minute/time.Second), "s")
	case d < 24*time.Hour:
		return two(int64(d/time.Hour), "h", int64(d%time.Hour/time.Minute), "m")
	}
	return two(int64(d/(24*time.Hour)), "d", int64(d%(24*time.Hour)/time.Hour), "h")
}

// compact writes a Go duration without its zero units: 15m0s is 15m.
func compact(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return s
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 || d > 0 {
		return s // below a second: as Go writes it
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine is s on one line, cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
