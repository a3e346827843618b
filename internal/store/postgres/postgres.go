// Package postgres is the PostgreSQL backend of the store, on pgx/v5. It is
// the production store and the only one several nodes can share.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool       *pgxpool.Pool
	migrations []store.Migration
	// inserter enqueues jobs inside the store's own transactions (batch
	// jobs); it works no jobs itself.
	inserter *river.Client[pgx.Tx]
	// parts knows the records table's partitions (partitions.go).
	parts partitions
	// replica, when set, serves reads that tolerate lag (replica.go).
	replicas atomic.Pointer[replicaSet]
	// ids hands out record ids in blocks (ids.go).
	ids recordIDs
	// gate lets big batches give way to small ones (gate.go).
	gate writeGate
	// data is the type of records.data and the INSERT of a small batch's
	// records for it (recordData).
	data atomic.Pointer[dataType]
	// folds counts batches per pipeline until their stats deltas are
	// folded (records.go).
	folds struct {
		mu sync.Mutex
		n  map[uuid.UUID]int
	}
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url. It does not migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL, password included; say less.
		return nil, errors.New("parse database URL: not a valid postgres:// URL or connection string")
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "tributary"
	}
	cfg.AfterConnect = uuidAsBytes
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, oneLine{err})
	}
	ms, err := store.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		pool.Close()
		return nil, err
	}
	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("job inserter: %w", err)
	}
	s := &Store{pool: pool, migrations: ms, inserter: inserter}
	if err := s.recordData(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Pool exposes the connection pool to the composition root (River UI) and
// tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Backend implements store.Store.
func (s *Store) Backend() string { return "postgres" }

// Close implements store.Store.
func (s *Store) Close() error {
	if rs := s.replicas.Swap(nil); rs != nil {
		rs.close()
	}
	s.pool.Close()
	return nil
}

// migrationLock is the advisory lock key that serialises migrations of
// several processes starting at once ("trib" in ASCII).
const migrationLock = 0x74726962

// Migrate implements store.Store.
func (s *Store) Migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS tributary_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE tributary_migrations ADD COLUMN IF NOT EXISTS checksum text`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version, coalesce(checksum, '') FROM tributary_migrations`)
		if err != nil {
			return err
		}
		applied := map[int]string{}
		var v int
		var sum string
		if _, err := pgx.ForEachRow(rows, []any{&v, &sum}, func() error { applied[v] = sum; return nil }); err != nil {
			return fmt.Errorf("read applied migrations: %w", err)
		}
		pending, err := store.PlanMigrations(applied, s.migrations)
		if err != nil {
			return err
		}
		// Migrations applied before checksums were recorded get theirs now.
		for _, m := range s.migrations {
			if sum, ok := applied[m.Version]; ok && sum == "" {
				if _, err := tx.Exec(ctx, `UPDATE tributary_migrations SET checksum = $2 WHERE version = $1`, m.Version, m.Checksum()); err != nil {
					return err
				}
			}
		}
		for _, m := range pending {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tributary_migrations (version, name, checksum) VALUES ($1, $2, $3)`, m.Version, m.Name, m.Checksum()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate tributary schema: %w", err)
	}
	if err := s.recordData(ctx); err != nil {
		return err
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(s.pool), nil)
	if err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	// Records can be written as soon as the schema is there; the periodic
	// job keeps partitions ahead from then on.
	now := core.Now()
	return s.EnsurePartitions(ctx, now.Add(-24*time.Hour), now.Add(MigratePartitionsAhead))
}

// MigratePartitionsAhead is how far ahead Migrate creates record
// partitions.
const MigratePartitionsAhead = 3 * 24 * time.Hour

// Ready implements store.Store.
func (s *Store) Ready(ctx context.Context) error {
	var current int
	var migrated bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('tributary_migrations') IS NOT NULL`).Scan(&migrated); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if migrated {
		if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tributary_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
	}
	if want := store.Latest(s.migrations); current < want {
		return fmt.Errorf("schema at version %d, want %d: run tributary migrate", current, want)
	} else if current > want {
		return fmt.Errorf("%w: it is at version %d, this binary knows up to %d", store.ErrSchemaNewer, current, want)
	}
	return nil
}

// NewJobClient implements store.Store.
func (s *Store) NewJobClient(cfg *river.Config) (store.JobClient, error) {
	return river.NewClient(riverpgxv5.New(s.pool), cfg)
}

// RequeueJobsOf implements store.Store.
func (s *Store) RequeueJobsOf(ctx context.Context, node, except string) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = least(scheduled_at, now())
		WHERE state = 'running' AND attempt < max_attempts
		  AND attempted_by[cardinality(attempted_by)] LIKE $1 AND attempted_by[cardinality(attempted_by)] <> $2
		  AND NOT (metadata ? 'cancel_attempted_at')`, node+"@%", except)
	if err != nil {
		return 0, fmt.Errorf("requeue the jobs of node %s: %w", node, err)
	}
	return int(tag.RowsAffected()), nil
}

// dbtx is what both the pool and a transaction offer.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// mapErr turns "no rows" and unique violations into the domain's sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return core.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w (%s)", core.ErrConflict, pgErr.ConstraintName)
	}
	return err
}

// oneLine keeps an error's chain but prints it on one line: pgx writes one
// line per connection attempt.
type oneLine struct{ error }

func (e oneLine) Error() string { return strings.Join(strings.Fields(e.error.Error()), " ") }
func (e oneLine) Unwrap() error { return e.error }

func utcPtr(t *time.Time) {
	if t != nil {
		*t = t.UTC()
	}
}
