package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mdingest/mdingest/internal/daemon"
	"github.com/mdingest/mdingest/internal/spool"
	"github.com/mdingest/mdingest/internal/store"
	"github.com/mdingest/mdingest/internal/tables"
)

// errStillRefused: a quarantine replay left batches the database refused
// again.
var errStillRefused = errors.New("batches refused again")

func newQuarantineCmd(e *env) *cobra.Command {
	var spoolDir string
	cmd := &cobra.Command{
		Use:   "quarantine list|replay",
		Short: "list or replay the batches the database refused (kept in the spool's quarantine/ directory)",
		Long: `Lists or replays the batches the database refused (kept in the spool's quarantine/ directory).

  list    shows each quarantined batch file: when, tables, rows, and the database's reason;
          and how many spool records failed their checksum (kept in corrupt/, not replayable)
  replay  writes every quarantined batch to --database-url and deletes what was stored;
          batches refused again stay (exit 1), and an unreachable database stops the replay
          with nothing lost. Safe beside a running daemon, and safe to run again.

The spool is the daemon's: store.spool_dir, or the default directory of this database and
instance (set the same --config, DATABASE_URL and instance as the daemon), or --spool-dir.`,
		ValidArgs: []string{"list", "replay"},
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] != "list" && args[0] != "replay" {
				return usagef("want `quarantine list` or `quarantine replay`, got %q", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuarantine(cmd.Context(), e, spoolDir, args[0])
		},
	}
	cmd.Flags().StringVar(&spoolDir, "spool-dir", "", "the spool directory (default: the daemon's, from the configuration)")
	return cmd
}

func runQuarantine(ctx context.Context, e *env, dir, op string) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if !e.set("spool-dir") {
		dir = daemon.SpoolDir(cfg)
	}
	if op == "list" {
		return listQuarantine(e.stdout, dir)
	}
	st, err := openStore(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := spool.ReplayQuarantine(dir, tables.NewRows, func(table string, rows any) (bool, error) {
		batch, err := tables.Wrap(table, rows)
		if err == nil {
			_, err = st.Write(ctx, batch)
		}
		switch {
		case err == nil:
			return false, nil
		case ctx.Err() != nil || store.Retryable(err):
			return false, err
		}
		e.logger.Warn("the database refused a quarantined batch again; it stays", "table", table, "err", err)
		return true, nil
	})
	fmt.Fprintf(e.stdout, "replayed %d batches (%d rows) from %s; %d refused again; %d files removed\n",
		sum.Batches, sum.Rows, filepath.Join(dir, spool.QuarantineDir), sum.Refused, sum.Removed)
	if err != nil {
		return fmt.Errorf("replay stopped, the rest stays quarantined: %w", err)
	}
	if sum.Refused > 0 {
		return fmt.Errorf("%d %w: see `mdingest quarantine list`", sum.Refused, errStillRefused)
	}
	return nil
}

func listQuarantine(w io.Writer, dir string) error {
	files, err := spool.ListQuarantine(dir)
	if err != nil {
		return err
	}
	corrupt, err := spool.ListCorrupt(dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintf(w, "no quarantined batches in %s\n", filepath.Join(dir, spool.QuarantineDir))
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tWRITTEN\tTABLES\tBATCHES\tROWS\tREASON")
		batches, rows := 0, 0
		for _, f := range files {
			reason := f.Reason
			if f.Bad > 0 {
				reason = strings.TrimSpace(fmt.Sprintf("%s (%d unreadable)", reason, f.Bad))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", filepath.Base(f.Path), f.Time.Format(time.RFC3339),
				strings.Join(f.Tables, ","), f.Batches, f.Rows, reason)
			batches += f.Batches
			rows += f.Rows
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "%d batches, %d rows in %s: `mdingest quarantine replay` writes them\n",
			batches, rows, filepath.Join(dir, spool.QuarantineDir))
	}
	if len(corrupt) > 0 {
		var bytes int64
		for _, c := range corrupt {
			bytes += c.Bytes
		}
		fmt.Fprintf(w, "%d spool records failed their checksum (%d bytes), kept in %s; they cannot be replayed\n",
			len(corrupt), bytes, filepath.Join(dir, spool.CorruptDir))
	}
	return nil
}
