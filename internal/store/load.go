package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mdingest/mdingest/internal/ops"
)

// Result counts what one load did. Requested = Inserted + Updated +
// Duplicates + Conflicts + Rejected.
type Result struct {
	Requested  int
	Inserted   int
	Updated    int // open candles and market rows whose values changed
	Duplicates int // rows stored before with the same values (or repeated in the batch)
	// Conflicts are final rows (closed candles, trades) stored before with
	// other values: the stored row is kept and both versions go to
	// ops.rejected_rows with code "conflict".
	Conflicts int
	Rejected  int // rows the database would refuse, now in ops.rejected_rows
}

// Add sums two results.
func (r Result) Add(o Result) Result {
	return Result{
		Requested: r.Requested + o.Requested, Inserted: r.Inserted + o.Inserted, Updated: r.Updated + o.Updated,
		Duplicates: r.Duplicates + o.Duplicates, Conflicts: r.Conflicts + o.Conflicts, Rejected: r.Rejected + o.Rejected,
	}
}

// table describes how rows of T are written: one generic mechanism, one
// small description per table.
type table[T any] struct {
	name    pgx.Identifier
	columns []string
	key     []string // unique key: conflict target, de-duplication and sort order
	// update lists the columns refreshed when a stored row with the same key
	// differs; nil means stored rows are never changed (DO NOTHING).
	update []string
	// mutableIf is a condition on the stored row (alias t) under which it
	// may still change, e.g. "NOT t.closed"; "" means always.
	mutableIf string
	// touch is a column set to now() on update.
	touch string
	// cmp orders rows by key; with it, a batch already sorted and free of
	// repeated keys (the usual case) skips the server-side sort. Optional.
	cmp func(a, b T) int
	// at is the row's time, the hypertable's partitioning column.
	at func(T) time.Time
	// encode appends the row's values in column order.
	encode func(T, []any) []any
	// check returns why the database would refuse the row, or nil; the
	// cheap Go-side guard in front of the bisecting fallback.
	check func(T) error
	// reject describes a refused row for ops.rejected_rows.
	reject func(T, string) ops.RejectedRow
	// binary, when set, appends the row as one tuple of COPY's binary
	// format, so the loader encodes rows itself rather than through []any.
	binary func([]byte, T) []byte
	// probe, when set, reads what is stored before writing (see probe).
	probe *probe[T]
	// conflicts is set when the last batch met stored rows, so the next
	// batch goes straight to the staging path.
	conflicts *atomic.Bool
	sql       loadSQL
}

type loadSQL struct {
	stage         string // temp staging table, quoted
	stageName     string
	createStage   string
	insert        string // INSERT ... SELECT ... ON CONFLICT, de-duplicating and sorting
	insertOrdered string // the same for a stage known sorted and unique
	upsert        bool   // insert returns (inserted, updated)
	copyBinary    string // COPY ... FROM STDIN in binary format, for binary
}

func (t *table[T]) prepare() *table[T] {
	t.conflicts = new(atomic.Bool)
	target := t.name.Sanitize()
	stage := pgx.Identifier{"mdingest_stage_" + strings.Join(t.name, "_")}.Sanitize()
	cols := quoteAll(t.columns)
	key := quoteAll(t.key)
	t.sql.stage, t.sql.stageName = stage, "mdingest_stage_"+strings.Join(t.name, "_")
	t.sql.copyBinary = fmt.Sprintf(`COPY %s (%s) FROM STDIN (FORMAT binary)`, target, cols)
	// The stage mirrors the target's columns plus _ord, the row's position
	// in the batch, so that DISTINCT ON keeps the last copy of a key.
	t.sql.createStage = fmt.Sprintf(
		`CREATE TEMP TABLE IF NOT EXISTS %s ON COMMIT DELETE ROWS AS SELECT %s, 0::bigint AS _ord FROM %s WITH NO DATA`,
		stage, cols, target)
	sel := fmt.Sprintf(`SELECT DISTINCT ON (%s) %s FROM %s ORDER BY %s, _ord DESC`, key, cols, stage, key)
	selOrdered := fmt.Sprintf(`SELECT %s FROM %s ORDER BY _ord`, cols, stage)
	if t.update == nil {
		t.sql.insert = fmt.Sprintf(`INSERT INTO %s (%s) %s ON CONFLICT (%s) DO NOTHING`, target, cols, sel, key)
		t.sql.insertOrdered = fmt.Sprintf(`INSERT INTO %s (%s) %s ON CONFLICT (%s) DO NOTHING`, target, cols, selOrdered, key)
		return t
	}
	set := make([]string, 0, len(t.update)+1)
	old := make([]string, 0, len(t.update))
	neu := make([]string, 0, len(t.update))
	for _, c := range t.update {
		q := pgx.Identifier{c}.Sanitize()
		set = append(set, q+" = EXCLUDED."+q)
		old = append(old, "t."+q)
		neu = append(neu, "EXCLUDED."+q)
	}
	if t.touch != "" {
		set = append(set, pgx.Identifier{t.touch}.Sanitize()+" = now()")
	}
	where := fmt.Sprintf("(%s) IS DISTINCT FROM (%s)", strings.Join(old, ", "), strings.Join(neu, ", "))
	if t.mutableIf != "" {
		where = t.mutableIf + " AND " + where
	}
	t.sql.upsert = true
	const upsert = `WITH w AS (INSERT INTO %s AS t (%s) %s ON CONFLICT (%s) DO UPDATE SET %s WHERE %s RETURNING (xmax = 0) AS ins)
SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM w`
	t.sql.insert = fmt.Sprintf(upsert, target, cols, sel, key, strings.Join(set, ", "), where)
	t.sql.insertOrdered = fmt.Sprintf(upsert, target, cols, selOrdered, key, strings.Join(set, ", "), where)
	return t
}

func quoteAll(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// source streams rows to CopyFrom without building [][]any, reusing one
// values slice (pgx encodes each row before asking for the next).
type source[T any] struct {
	rows []T
	i    int
	enc  func(T, []any) []any
	vals []any
	ord  bool
}

func (s *source[T]) Next() bool { s.i++; return s.i <= len(s.rows) }

func (s *source[T]) Values() ([]any, error) {
	s.vals = s.enc(s.rows[s.i-1], s.vals[:0])
	if s.ord {
		s.vals = append(s.vals, int64(s.i))
	}
	return s.vals, nil
}

func (s *source[T]) Err() error { return nil }

// load writes rows to t idempotently and returns what happened. Rows the
// database would refuse go to ops.rejected_rows instead of failing the
// batch, and so do conflicts; other errors fail it whole and nothing is
// written (the caller keeps the batch; Retryable says whether to try
// again).
func load[T any](ctx context.Context, s *Store, t *table[T], rows []T) (Result, error) {
	res := Result{Requested: len(rows)}
	if len(rows) == 0 {
		return res, nil
	}
	// Before any connection is taken: finding the slots takes one.
	slots := s.copySlots(ctx)
	good := rows
	var refused []ops.RejectedRow
	if t.check != nil {
		// good is rows itself until a row is refused, the usual case.
		copied := false
		for i, r := range rows {
			if err := t.check(r); err != nil {
				if !copied {
					good, copied = append(make([]T, 0, len(rows)-1), rows[:i]...), true
				}
				refused = append(refused, t.reject(r, "database would refuse: "+err.Error()))
				continue
			}
			if copied {
				good = append(good, r)
			}
		}
	}
	if t.cmp != nil {
		good = inKeyOrder(good, t.cmp)
	}
	r, more, err := loadParts(ctx, s, t, good, slots)
	if err != nil {
		return res, err
	}
	refused = append(refused, more...)
	if len(refused) > 0 {
		if t.name.Sanitize() == rejectedRows.name.Sanitize() {
			return res, fmt.Errorf("writing rejected rows: %d refused", len(refused))
		}
		if _, err := s.RejectedRows(ctx, refused); err != nil {
			return res, fmt.Errorf("recording %d refused rows: %w", len(refused), err)
		}
	}
	res.Inserted, res.Updated, res.Conflicts = r.Inserted, r.Updated, r.Conflicts
	res.Rejected = len(refused) - r.Conflicts
	res.Duplicates = res.Requested - res.Inserted - res.Updated - res.Conflicts - res.Rejected
	return res, nil
}

// inKeyOrder returns rows sorted by key with one row per key, the last copy
// of a repeated key winning (a later fetch supersedes an earlier one); rows
// themselves when they already are, the usual case. Sorting here spares the
// server a sort, lets any batch take the direct path, and makes concurrent
// loads take keys in one order.
func inKeyOrder[T any](rows []T, cmp func(a, b T) int) []T {
	if sortedUnique(rows, cmp) {
		return rows
	}
	out := slices.Clone(rows)
	slices.SortStableFunc(out, cmp)
	w := 0
	for i := range out {
		if w > 0 && cmp(out[w-1], out[i]) == 0 {
			out[w-1] = out[i]
			continue
		}
		out[w] = out[i]
		w++
	}
	return out[:w]
}

// partRows is the most rows a transaction takes when a batch goes into a
// hypertable. A part stays within one chunk range, and the first part
// written into a range is a single row (see chunks.go), so a chunk's
// creation holds no other stream up; beyond that, each part's probe,
// commit and round trips are its cost, so parts are long.
const partRows = 16 << 10

// loadParts loads rows. Into a hypertable, a batch in key order is loaded
// in parts of at most partRows rows, each committed before the next, a
// chunk range opened by a part of one row (see chunks.go); a batch larger
// than partRows is first cut into as many contiguous sections as there are
// COPY slots, loaded at once: the sections meet in one chunk at most. A
// failure of any part fails the call; the caller's retry is idempotent.
// The rejected rows returned include the conflicts.
func loadParts[T any](ctx context.Context, s *Store, t *table[T], rows []T, slots chan struct{}) (Result, []ops.RejectedRow, error) {
	if t.cmp == nil || cap(slots) < 2 {
		return loadIsolating(ctx, s, t, rows)
	}
	chunks := s.chunksOf(t.name)
	var (
		mu    sync.Mutex
		total Result
		rej   []ops.RejectedRow
		errs  []error
		wg    sync.WaitGroup
	)
	loadSection := func(section []T) {
		for j := 0; j < len(section) && ctx.Err() == nil; {
			end := nextPart(section, j, t.at, chunks)
			r, c, err := loadIsolating(ctx, s, t, section[j:end])
			j = end
			mu.Lock()
			total, rej = total.Add(r), append(rej, c...)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}
	if len(rows) <= partRows {
		loadSection(rows)
	} else {
		n := cap(slots)
		size := (len(rows) + n - 1) / n
		for i := 0; i < len(rows); i += size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				loadSection(rows[i:min(i+size, len(rows))])
			}()
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return Result{}, nil, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, nil, err
	}
	return total, rej, nil
}

// loadIsolating loads rows; when the database refuses the batch because of
// some row's values, it loads halves separately until the refused rows are
// single, and returns those as rejects.
func loadIsolating[T any](ctx context.Context, s *Store, t *table[T], rows []T) (Result, []ops.RejectedRow, error) {
	if len(rows) == 0 {
		return Result{}, nil, nil
	}
	r, c, err := loadOnce(ctx, s, t, rows)
	if err == nil {
		return r, c, nil
	}
	if !rowLevel(err) {
		return Result{}, nil, err
	}
	if len(rows) == 1 {
		return Result{}, []ops.RejectedRow{t.reject(rows[0], "database refused: "+err.Error())}, nil
	}
	mid := len(rows) / 2
	a, ra, err := loadIsolating(ctx, s, t, rows[:mid])
	if err != nil {
		return Result{}, nil, err
	}
	b, rb, err := loadIsolating(ctx, s, t, rows[mid:])
	if err != nil {
		return Result{}, nil, err
	}
	return a.Add(b), append(ra, rb...), nil
}

// loadOnce writes one batch, trying again when the database broke a
// deadlock by aborting us (our loads take keys in order, so this is rare),
// or, for a probed table, when a concurrent writer stored one of the keys
// the probe found free. Writers that keep taking our keys are met by a
// merge instead.
func loadOnce[T any](ctx context.Context, s *Store, t *table[T], rows []T) (Result, []ops.RejectedRow, error) {
	var err error
	for range 3 {
		var r Result
		var c []ops.RejectedRow
		if r, c, err = loadTx(ctx, s, t, rows); err == nil {
			return r, c, nil
		}
		if !deadlock(err) && (t.probe == nil || !uniqueViolation(err)) {
			return Result{}, nil, err
		}
	}
	if t.probe != nil && uniqueViolation(err) {
		return mergeProbed(ctx, s, t, rows)
	}
	return Result{}, nil, err
}

// loadTx writes one batch in one transaction.
//
// A probed table reads what is stored in the batch's ranges first: new
// rows are copied straight in, rows that may still change and differ are
// merged, the rest cost nothing.
//
// Otherwise a batch in key order that meets no stored key is copied
// straight into the table (the fast path); after a conflict it is copied
// into a temp stage and merged with INSERT ... ON CONFLICT, in key order.
// Every path takes keys in ascending order, so concurrent loads cannot
// deadlock on each other.
func loadTx[T any](ctx context.Context, s *Store, t *table[T], rows []T) (Result, []ops.RejectedRow, error) {
	if t.probe != nil {
		return probeTx(ctx, s, t, rows)
	}
	ordered := t.cmp == nil || sortedUnique(rows, t.cmp)
	if ordered && !t.conflicts.Load() {
		n, err := copyDirect(ctx, s, t, rows)
		if err == nil {
			return Result{Inserted: int(n)}, nil, nil
		}
		if !uniqueViolation(err) && !rowLevel(err) {
			return Result{}, nil, err
		}
		if uniqueViolation(err) {
			t.conflicts.Store(true)
		}
	}
	r, err := copyMerge(ctx, s, t, rows)
	if err == nil && r.Inserted == len(rows) {
		t.conflicts.Store(false) // a clean batch: try the fast path again
	}
	return r, nil, err
}

func probeTx[T any](ctx context.Context, s *Store, t *table[T], rows []T) (Result, []ops.RejectedRow, error) {
	var r Result
	var conflicts []ops.RejectedRow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		p, err := runProbe(ctx, tx, t, rows)
		if err != nil {
			return err
		}
		r, conflicts = Result{Conflicts: len(p.conflicts)}, p.conflicts
		if p.fresh > 0 {
			slots := s.copies // set by load before any transaction
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			n, err := copyRows(ctx, tx, t, rowsMarked(rows, p.marks, vNew, p.fresh))
			<-slots
			if err != nil {
				return fmt.Errorf("copying into %s: %w", t.name.Sanitize(), err)
			}
			r.Inserted = int(n)
		}
		if p.changed > 0 {
			m, err := mergeTx(ctx, tx, t, rowsMarked(rows, p.marks, vChanged, p.changed))
			if err != nil {
				return err
			}
			r.Inserted += m.Inserted
			r.Updated += m.Updated
		}
		return nil
	})
	if err != nil {
		return Result{}, nil, fmt.Errorf("loading %s: %w", t.name.Sanitize(), err)
	}
	return r, conflicts, nil
}

// mergeProbed merges rows whatever is stored, then probes again to tell
// the conflicts among the rows it did not write from the duplicates.
func mergeProbed[T any](ctx context.Context, s *Store, t *table[T], rows []T) (Result, []ops.RejectedRow, error) {
	r, err := copyMerge(ctx, s, t, rows)
	if err != nil {
		return Result{}, nil, err
	}
	var p probed[T]
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		p, err = runProbe(ctx, tx, t, rows)
		return err
	})
	if err != nil {
		return Result{}, nil, err
	}
	r.Conflicts = len(p.conflicts)
	return r, p.conflicts, nil
}

// copyRows copies rows into t within tx.
func copyRows[T any](ctx context.Context, tx pgx.Tx, t *table[T], rows []T) (int64, error) {
	if t.binary != nil {
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, newBinaryRows(rows, t.binary), t.sql.copyBinary)
		return tag.RowsAffected(), err
	}
	return tx.CopyFrom(ctx, t.name, t.columns, &source[T]{rows: rows, enc: t.encode})
}

func copyDirect[T any](ctx context.Context, s *Store, t *table[T], rows []T) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		n, err = copyRows(ctx, tx, t, rows)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("copying into %s: %w", t.name.Sanitize(), err)
	}
	return n, nil
}

func copyMerge[T any](ctx context.Context, s *Store, t *table[T], rows []T) (Result, error) {
	var r Result
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		r, err = mergeTx(ctx, tx, t, rows)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("loading %s: %w", t.name.Sanitize(), err)
	}
	return r, nil
}

// mergeTx copies rows into a temp stage and merges them into t with
// INSERT ... ON CONFLICT, within tx.
func mergeTx[T any](ctx context.Context, tx pgx.Tx, t *table[T], rows []T) (Result, error) {
	var r Result
	if _, err := tx.Exec(ctx, t.sql.createStage); err != nil {
		return r, fmt.Errorf("creating stage: %w", err)
	}
	insert := t.sql.insert
	if t.cmp != nil && sortedUnique(rows, t.cmp) {
		insert = t.sql.insertOrdered
	}
	stageCols := append(append([]string{}, t.columns...), "_ord")
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.sql.stageName}, stageCols,
		&source[T]{rows: rows, enc: t.encode, ord: true}); err != nil {
		return r, fmt.Errorf("copying into stage: %w", err)
	}
	if t.sql.upsert {
		var ins, upd int64
		if err := tx.QueryRow(ctx, insert).Scan(&ins, &upd); err != nil {
			return r, fmt.Errorf("merging: %w", err)
		}
		r.Inserted, r.Updated = int(ins), int(upd)
		return r, nil
	}
	tag, err := tx.Exec(ctx, insert)
	if err != nil {
		return r, fmt.Errorf("merging: %w", err)
	}
	r.Inserted = int(tag.RowsAffected())
	return r, nil
}

// sortedUnique reports whether rows are in strictly increasing key order:
// then they hold no repeated key and need no sort.
func sortedUnique[T any](rows []T, cmp func(a, b T) int) bool {
	for i := 1; i < len(rows); i++ {
		if cmp(rows[i-1], rows[i]) >= 0 {
			return false
		}
	}
	return true
}

// DeferCandleCompression moves the next run of market.candles' compression
// policy to one schedule interval from now, when it would come sooner, and
// reports whether there was a policy to move. A bulk load of history fills
// chunks older than the policy's age: the policy would compress them under
// the load (it runs as soon as a new database has it), and every row
// copied into a compressed chunk then costs a decompression to check its
// key. TimescaleDB's advice for backfills is to hold the policy; moving it
// rather than pausing it means a load that dies leaves it to run at its
// next regular time. Plain PostgreSQL has no policy: false.
func (s *Store) DeferCandleCompression(ctx context.Context) (bool, error) {
	var timescale bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&timescale); err != nil {
		return false, fmt.Errorf("looking for timescaledb: %w", err)
	}
	if !timescale {
		return false, nil
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (
SELECT alter_job(j.job_id, next_start => greatest(j.next_start, now() + j.schedule_interval))
FROM timescaledb_information.jobs j
WHERE j.proc_name = 'policy_compression' AND j.hypertable_schema = 'market' AND j.hypertable_name = 'candles') moved`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("deferring the compression of market.candles: %w", err)
	}
	return n > 0, nil
}
