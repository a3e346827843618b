package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// Partitions of the records table.
//
// With native partitioning (the default; migration 0003) records is
// partitioned by range of ts, one partition per UTC day, named
// records_YYYYMMDD_YYYYMMDD after its bounds. Choices, and why:
//
//   - No DEFAULT partition. Rows caught by one make every later partition
//     for their range fail to attach (or force moving them under an
//     exclusive lock), every ATTACH scans the default partition, and a
//     default partition turns off PostgreSQL's ordered partition scans,
//     which let "newest 100 of a pipeline" read the newest partition and
//     stop. Instead, a batch whose day has no partition creates it first.
//   - Partitions are created ahead by a periodic job (EnsurePartitions for
//     the next days), and on demand by WriteBatch, before and outside the
//     batch's transaction: WriteBatch checks a batch's days against the
//     ranges it knows (an in-memory copy of the catalog), and only for a
//     missing day takes the creation path. Should its copy be stale (a
//     partition dropped by retention on another node), the COPY fails
//     with "no partition", and WriteBatch creates it and retries once.
//   - Creation serialises on a transaction-level advisory lock, so nodes
//     racing for the same day create it once, and it creates the table
//     first and then ATTACHes it: ATTACH PARTITION takes SHARE UPDATE
//     EXCLUSIVE on records, which does not conflict with COPY or queries,
//     where CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE.
//   - Records far in the past or future (more than dailyWindow from now:
//     a backfill of old history, a clock or unit error) do not get a
//     partition per day, which could make thousands of partitions and
//     slow every query's planning; their day gets one partition for its
//     whole calendar year instead, clipped to the gap between existing
//     partitions. Retention drops such a partition once all of its year
//     has expired, and deletes from it in batches before that.
//   - Dropping a partition (retention) locks records ACCESS EXCLUSIVE
//     first, with a short lock_timeout, then DROPs, then verifies and
//     updates stats in the same transaction; see dropPartition.
//
// With TimescaleDB, records is a hypertable: chunks appear on insert by
// themselves, so nothing here creates anything, and retention drops chunks
// (DROP TABLE of the chunk) exactly as it drops partitions. That path is
// the few branches on layoutTimescale below.

// layout is how the records table is laid out.
type layout int

const (
	layoutNative    layout = iota + 1 // declarative range partitions by day
	layoutTimescale                   // a TimescaleDB hypertable
	layoutPlain                       // one table (not created by our migrations; handled for robustness)
)

const (
	// dailyWindow is how far from now a day gets a partition of its own.
	dailyWindow = 366 * 24 * time.Hour
	// partitionLock is the advisory lock key of partition DDL ("trip").
	partitionLock = 0x74726970
	// ddlLockTimeout bounds how long partition DDL waits for locks; the
	// caller retries later rather than queue ingest behind it.
	ddlLockTimeout = "5s"
	// dropLockTimeout bounds how long a partition drop waits for its
	// ACCESS EXCLUSIVE lock, during which new queries queue behind it.
	dropLockTimeout = "2s"
)

// partitions caches what the store knows of the records table's layout.
type partitions struct {
	mu     sync.Mutex // serialises detection and creation in this process
	layout atomic.Int32
	// known holds the covered ranges, sorted; nil when not loaded.
	known atomic.Pointer[[]span]
}

type span struct{ from, to time.Time }

func (s span) contains(t time.Time) bool { return !t.Before(s.from) && t.Before(s.to) }

// recordLayout detects how records is laid out, once.
func (s *Store) recordLayout(ctx context.Context) (layout, error) {
	if l := layout(s.parts.layout.Load()); l != 0 {
		return l, nil
	}
	s.parts.mu.Lock()
	defer s.parts.mu.Unlock()
	if l := layout(s.parts.layout.Load()); l != 0 {
		return l, nil
	}
	var kind string
	var hypertable bool
	err := s.pool.QueryRow(ctx, `SELECT c.relkind::text,
			EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
		FROM pg_class c WHERE c.oid = to_regclass('records')`).Scan(&kind, &hypertable)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errors.New("records table missing: run tributary migrate")
	}
	if err != nil {
		return 0, fmt.Errorf("detect records layout: %w", err)
	}
	if hypertable && kind == "r" {
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
			WHERE hypertable_name = 'records' AND hypertable_schema = current_schema())`).Scan(&hypertable); err != nil {
			return 0, fmt.Errorf("detect records layout: %w", err)
		}
	}
	l := layoutPlain
	switch {
	case kind == "p":
		l = layoutNative
	case kind == "r" && hypertable:
		l = layoutTimescale
	}
	s.parts.layout.Store(int32(l))
	return l, nil
}

var partitionName = regexp.MustCompile(`^records_(\d{8})_(\d{8})$`)

func spanName(sp span) string {
	return "records_" + sp.from.Format("20060102") + "_" + sp.to.Format("20060102")
}

func parseSpanName(name string) (span, bool) {
	m := partitionName.FindStringSubmatch(name)
	if m == nil {
		return span{}, false
	}
	from, err1 := time.Parse("20060102", m[1])
	to, err2 := time.Parse("20060102", m[2])
	if err1 != nil || err2 != nil || !from.Before(to) {
		return span{}, false
	}
	return span{from, to}, true
}

// RecordPartitions implements store.Storage.
func (s *Store) RecordPartitions(ctx context.Context) ([]store.Partition, error) {
	l, err := s.recordLayout(ctx)
	if err != nil {
		return nil, err
	}
	return s.listPartitions(ctx, l, true)
}

// listPartitions reads the partitions (or chunks) from the catalog, oldest
// first, with their sizes when sizes is set.
func (s *Store) listPartitions(ctx context.Context, l layout, sizes bool) ([]store.Partition, error) {
	var rows pgx.Rows
	var err error
	switch l {
	case layoutNative:
		rows, err = s.pool.Query(ctx, `SELECT c.relname::text, NULL::timestamptz, NULL::timestamptz,
				CASE WHEN $1 THEN pg_total_relation_size(c.oid) ELSE 0 END
			FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'records'::regclass`, sizes)
	case layoutTimescale:
		// chunks_detailed_size counts a compressed chunk's compressed data.
		rows, err = s.pool.Query(ctx, `SELECT format('%I.%I', c.chunk_schema, c.chunk_name), c.range_start, c.range_end,
				CASE WHEN $1 THEN coalesce(z.total_bytes, 0) ELSE 0 END
			FROM timescaledb_information.chunks c
			LEFT JOIN chunks_detailed_size('records') z ON z.chunk_schema = c.chunk_schema AND z.chunk_name = c.chunk_name
			WHERE c.hypertable_name = 'records' AND c.hypertable_schema = current_schema()`, sizes)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list record partitions: %w", err)
	}
	var out []store.Partition
	for rows.Next() {
		var p store.Partition
		var from, to *time.Time
		if err := rows.Scan(&p.Name, &from, &to, &p.DiskBytes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list record partitions: %w", err)
		}
		if from != nil && to != nil {
			p.From, p.To = from.UTC(), to.UTC()
		} else if sp, ok := parseSpanName(p.Name); ok {
			p.From, p.To = sp.from, sp.to
		} else {
			continue // not one of ours
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list record partitions: %w", err)
	}
	slices.SortFunc(out, func(a, b store.Partition) int { return a.From.Compare(b.From) })
	return out, nil
}

// knownSpans returns the covered ranges, loading them when needed.
func (s *Store) knownSpans(ctx context.Context) ([]span, error) {
	if k := s.parts.known.Load(); k != nil {
		return *k, nil
	}
	return s.reloadSpans(ctx)
}

func (s *Store) reloadSpans(ctx context.Context) ([]span, error) {
	ps, err := s.listPartitions(ctx, layoutNative, false)
	if err != nil {
		return nil, err
	}
	spans := make([]span, len(ps))
	for i, p := range ps {
		spans[i] = span{p.From, p.To}
	}
	s.parts.known.Store(&spans)
	return spans, nil
}

func covered(spans []span, t time.Time) bool {
	i, _ := slices.BinarySearchFunc(spans, t, func(sp span, t time.Time) int {
		switch {
		case !sp.to.After(t):
			return -1
		case sp.from.After(t):
			return 1
		}
		return 0
	})
	return i < len(spans) && spans[i].contains(t)
}

// batchDays returns the distinct UTC days of a batch's records.
func batchDays(b *store.Batch) []time.Time {
	var days []time.Time
	for i := range b.Records {
		d := rollup.Bucket(b.Records[i].TS, rollup.Day)
		if n := len(days); n > 0 && days[n-1].Equal(d) {
			continue
		}
		if !slices.ContainsFunc(days, d.Equal) {
			days = append(days, d)
		}
	}
	return days
}

// preparePartitions makes sure every day of a batch has a partition.
func (s *Store) preparePartitions(ctx context.Context, b *store.Batch) error {
	if !b.Persist || len(b.Records) == 0 {
		return nil
	}
	l, err := s.recordLayout(ctx)
	if err != nil || l != layoutNative {
		return err
	}
	spans, err := s.knownSpans(ctx)
	if err != nil {
		return err
	}
	var missing []time.Time
	for _, d := range batchDays(b) {
		if !covered(spans, d) {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return s.createPartitions(ctx, missing)
}

// isNoPartition reports the error of a row for which records has no
// partition.
func isNoPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.TableName == "records"
}

// EnsurePartitions implements store.Storage.
func (s *Store) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	l, err := s.recordLayout(ctx)
	if err != nil || l != layoutNative {
		return err
	}
	var days []time.Time
	for d := rollup.Bucket(from, rollup.Day); d.Before(to); d = d.Add(rollup.Day) {
		days = append(days, d)
	}
	if len(days) == 0 {
		return nil
	}
	spans, err := s.knownSpans(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(days, func(d time.Time) bool { return !covered(spans, d) }) {
		return nil
	}
	return s.createPartitions(ctx, days)
}

// createPartitions creates partitions for the days that have none, under
// the advisory lock, and refreshes the known ranges.
func (s *Store) createPartitions(ctx context.Context, days []time.Time) error {
	s.parts.mu.Lock()
	defer s.parts.mu.Unlock()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+ddlLockTimeout+`'`); err != nil {
			return err
		}
		existing, err := s.listPartitions(ctx, layoutNative, false)
		if err != nil {
			return err
		}
		spans := make([]span, len(existing))
		for i, p := range existing {
			spans[i] = span{p.From, p.To}
		}
		plan, err := planPartitions(spans, days, core.Now())
		if err != nil {
			return err
		}
		for _, sp := range plan {
			name := pgx.Identifier{spanName(sp)}.Sanitize()
			if _, err := tx.Exec(ctx, `CREATE TABLE `+name+` (LIKE records INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)`); err != nil {
				return fmt.Errorf("create partition %s: %w", spanName(sp), err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE records ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
				name, sp.from.Format(time.RFC3339), sp.to.Format(time.RFC3339))); err != nil {
				return fmt.Errorf("attach partition %s: %w", spanName(sp), err)
			}
		}
		return nil
	})
	if err != nil {
		s.parts.known.Store(nil)
		return fmt.Errorf("create record partitions: %w", err)
	}
	if _, err := s.reloadSpans(ctx); err != nil {
		s.parts.known.Store(nil)
	}
	return nil
}

// planPartitions returns the ranges to create so that every day in days
// is covered, given the existing ranges: a day of its own within
// dailyWindow of now, else the day's calendar year clipped to the gap
// around it. Days outside the years 1 to 9999 are refused.
func planPartitions(existing []span, days []time.Time, now time.Time) ([]span, error) {
	all := slices.Clone(existing)
	slices.SortFunc(all, func(a, b span) int { return a.from.Compare(b.from) })
	days = slices.Clone(days)
	slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
	var out []span
	for _, d := range days {
		d = rollup.Bucket(d, rollup.Day)
		if covered(all, d) {
			continue
		}
		if y := d.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("%w: event time %s is outside the years 1 to 9999", core.ErrInvalid, d.Format("2006-01-02"))
		}
		sp := span{d, d.Add(rollup.Day)}
		if d.Before(now.Add(-dailyWindow)) || d.After(now.Add(dailyWindow)) {
			sp = span{time.Date(d.Year(), 1, 1, 0, 0, 0, 0, time.UTC), time.Date(d.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)}
			for _, e := range all {
				if !e.to.After(d) && e.to.After(sp.from) {
					sp.from = e.to
				}
				if e.from.After(d) && e.from.Before(sp.to) {
					sp.to = e.from
				}
			}
		}
		all = append(all, sp)
		slices.SortFunc(all, func(a, b span) int { return a.from.Compare(b.from) })
		out = append(out, sp)
	}
	return out, nil
}

// partitionIdent quotes a partition name, or a TimescaleDB chunk's
// schema-qualified name.
func partitionIdent(name string) string {
	if schema, table, ok := splitQualified(name); ok {
		return pgx.Identifier{schema, table}.Sanitize()
	}
	return pgx.Identifier{name}.Sanitize()
}

// splitQualified splits the "schema.table" that format('%I.%I') wrote.
func splitQualified(name string) (schema, table string, ok bool) {
	unquote := func(s string) string {
		if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			s = s[1 : len(s)-1]
			out := make([]byte, 0, len(s))
			for i := 0; i < len(s); i++ {
				out = append(out, s[i])
				if s[i] == '"' && i+1 < len(s) && s[i+1] == '"' {
					i++
				}
			}
			return string(out)
		}
		return s
	}
	inQuote := false
	for i := 0; i < len(name); i++ {
		switch {
		case name[i] == '"':
			inQuote = !inQuote
		case name[i] == '.' && !inQuote:
			return unquote(name[:i]), unquote(name[i+1:]), true
		}
	}
	return "", "", false
}

// TimescaleUnavailable says why records cannot be a TimescaleDB hypertable
// on this server, or "" when TimescaleDB is installed and preloaded. An
// installed but not preloaded TimescaleDB makes CREATE EXTENSION fail with
// a FATAL error that ends the session, so migration 0003 runs the same
// check before it and falls back to native partitions.
func (s *Store) TimescaleUnavailable(ctx context.Context) (string, error) {
	var available, preloaded bool
	err := s.pool.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),
			position('timescaledb' IN lower(coalesce(current_setting('shared_preload_libraries', true), ''))) > 0`).Scan(&available, &preloaded)
	switch {
	case err != nil:
		return "", fmt.Errorf("detect timescaledb: %w", err)
	case !available:
		return "the timescaledb extension is not installed", nil
	case !preloaded:
		return "timescaledb is installed but not in shared_preload_libraries", nil
	}
	return "", nil
}
