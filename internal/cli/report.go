package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mdingest/mdingest/internal/config"
	"github.com/mdingest/mdingest/internal/report"
)

var qualitySince string

func init() {
	register(&command{
		name:    "quality",
		summary: "quality summary per exchange, symbol and data type, from ops.quality_reports",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&qualitySince, "since", "24h", "how far back, e.g. 1h, 24h, 7d")
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return usagef("quality takes no arguments, got %q", args[0])
			}
			since, err := config.ParseDuration(qualitySince)
			if err != nil || since <= 0 {
				return usagef("--since: want a positive duration such as 24h or 7d, got %q", qualitySince)
			}
			cfg, err := e.loadConfig(fs)
			if err != nil {
				return err
			}
			st, err := openStore(ctx, e, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := report.Query(ctx, st.Pool(), time.Now().Add(-since.D()))
			if err != nil {
				return err
			}
			return report.Render(e.stdout, rows)
		},
	})
	register(&command{
		name:    "status",
		summary: "scheduler jobs, circuit states, last success per exchange, cache backend (from the running daemon's /status, else from the database)",
		run:     runStatus,
	})
}

func runStatus(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usagef("status takes no arguments, got %q", args[0])
	}
	cfg, err := e.loadConfig(fs)
	if err != nil {
		return err
	}
	if body, err := daemonStatus(ctx, cfg.Listen); err == nil {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("decoding /status: %w", err)
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	} else {
		fmt.Fprintf(e.stderr, "no daemon answering on %s (%v); last runs from the database:\n", cfg.Listen, err)
	}
	st, err := openStore(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.Pool().Query(ctx, `SELECT job, exchange, max(finished_at) FILTER (WHERE outcome = 'ok'),
		(array_agg(outcome ORDER BY started_at DESC))[1], count(*) FILTER (WHERE outcome = 'error')
		FROM ops.job_runs WHERE started_at > now() - interval '7 days' GROUP BY 1, 2 ORDER BY 2, 1`)
	if err != nil {
		return err
	}
	defer rows.Close()
	fmt.Fprintf(e.stdout, "%-28s %-17s %-25s %-8s %s\n", "JOB", "EXCHANGE", "LAST SUCCESS", "LAST", "ERRORS (7d)")
	for rows.Next() {
		var job, ex, last string
		var ok *time.Time
		var errs int
		if err := rows.Scan(&job, &ex, &ok, &last, &errs); err != nil {
			return err
		}
		okS := "never"
		if ok != nil {
			okS = ok.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "%-28s %-17s %-25s %-8s %d\n", job, ex, okS, last, errs)
	}
	return rows.Err()
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
