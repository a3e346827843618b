// Package sqlite is the embedded backend of the store: one SQLite file in
// the data directory (modernc.org/sqlite, pure Go), in WAL mode, for a
// single node and zero setup.
//
// SQLite allows one writer at a time. The store therefore keeps one write
// connection, shared with River (as River's SQLite driver asks), whose
// transactions begin IMMEDIATE so they queue on the busy timeout instead of
// failing on a lock upgrade; and a small pool of read-only connections that
// WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite implementation of store.Store.
type Store struct {
	write      *sql.DB // one connection: every write and River
	read       *sql.DB // read-only connections
	migrations []store.Migration
	// inserter enqueues jobs inside the store's own transactions (batch
	// jobs); it works no jobs itself.
	inserter *river.Client[*sql.Tx]
	// writer writes batches, many to a transaction (batchwriter.go).
	writer     *batchWriter
	writerOnce sync.Once
	// checkpoints copies the write-ahead log into the database file, off
	// the writer (checkpoint.go).
	checkpoints *checkpointer
	closeOnce   sync.Once
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path.
func Open(ctx context.Context, path string) (*Store, error) {
	pragmas := []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(FULL)", "temp_store(MEMORY)"}
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range pragmas {
			q.Add("_pragma", p)
		}
		for _, e := range extra {
			k, v, _ := strings.Cut(e, "=")
			q.Add(k, v)
		}
		return "file:" + path + "?" + q.Encode()
	}
	write, err := openDB(dsn("_txlock=immediate", fmt.Sprintf("_pragma=wal_autocheckpoint(%d)", writerCheckpointPages)))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	ckpt, err := openDB(dsn())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	pragmas = append(pragmas, "query_only(1)")
	read, err := openDB(dsn())
	if err != nil {
		write.Close()
		ckpt.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	read.SetMaxOpenConns(4)
	ms, err := store.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		write.Close()
		read.Close()
		ckpt.Close()
		return nil, err
	}
	inserter, err := river.NewClient(riversqlite.New(write), &river.Config{})
	if err != nil {
		write.Close()
		read.Close()
		ckpt.Close()
		return nil, fmt.Errorf("job inserter: %w", err)
	}
	c := newCheckpointer(ckpt)
	go c.run()
	return &Store{write: write, read: read, migrations: ms, inserter: inserter, writer: newBatchWriter(path), checkpoints: c}, nil
}

// openDB opens a pool of connections to dsn that keep their prepared
// statements (stmtcache.go).
func openDB(dsn string) (*sql.DB, error) {
	c, err := sqlite3.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{c}), nil
}

// Backend implements store.Store.
func (s *Store) Backend() string { return "sqlite" }

// Close implements store.Store.
func (s *Store) Close() error {
	s.stopWriter()
	return errors.Join(s.checkpoints.stop(), s.read.Close(), s.write.Close())
}

// Migrate implements store.Store.
func (s *Store) Migrate(ctx context.Context) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tributary_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at INTEGER NOT NULL)`); err != nil {
			return err
		}
		var hasChecksum int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('tributary_migrations') WHERE name = 'checksum'`).Scan(&hasChecksum); err != nil {
			return err
		}
		if hasChecksum == 0 {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE tributary_migrations ADD COLUMN checksum TEXT`); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT version, coalesce(checksum, '') FROM tributary_migrations`)
		if err != nil {
			return err
		}
		applied := map[int]string{}
		for rows.Next() {
			var v int
			var sum string
			if err := rows.Scan(&v, &sum); err != nil {
				rows.Close()
				return fmt.Errorf("read applied migrations: %w", err)
			}
			applied[v] = sum
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read applied migrations: %w", err)
		}
		rows.Close()
		pending, err := store.PlanMigrations(applied, s.migrations)
		if err != nil {
			return err
		}
		// Migrations applied before checksums were recorded get theirs now.
		for _, m := range s.migrations {
			if sum, ok := applied[m.Version]; ok && sum == "" {
				if _, err := tx.ExecContext(ctx, `UPDATE tributary_migrations SET checksum = ? WHERE version = ?`, m.Checksum(), m.Version); err != nil {
					return err
				}
			}
		}
		for _, m := range pending {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO tributary_migrations (version, name, applied_at, checksum) VALUES (?, ?, ?, ?)`,
				m.Version, m.Name, micros(core.Now()), m.Checksum()); err != nil {
				return err
			}
		}
		return hashHookTokens(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("migrate tributary schema: %w", err)
	}
	migrator, err := rivermigrate.New(riversqlite.New(s.write), nil)
	if err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	return nil
}

// Ready implements store.Store.
func (s *Store) Ready(ctx context.Context) error {
	var current, tables int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tributary_migrations'`).Scan(&tables); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if tables > 0 {
		if err := s.read.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM tributary_migrations`).Scan(&current); err != nil {
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
	return river.NewClient(riversqlite.New(s.write), cfg)
}

// RequeueJobsOf implements store.Store. A running job was fetched, so its
// scheduled time has passed: only its state changes.
func (s *Store) RequeueJobsOf(ctx context.Context, node, except string) (int, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE river_job SET state = 'available'
		WHERE state = 'running' AND attempt < max_attempts
		  AND json_extract(attempted_by, '$[#-1]') LIKE ? AND json_extract(attempted_by, '$[#-1]') <> ?
		  AND json_extract(metadata, '$.cancel_attempted_at') IS NULL`, node+"@%", except)
	if err != nil {
		return 0, fmt.Errorf("requeue the jobs of node %s: %w", node, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DB exposes the write connection to the composition root (River UI) and
// tests.
func (s *Store) DB() *sql.DB { return s.write }

// inTx runs fn in an immediate transaction on the write connection.
// fn must not use s.write or s.read for writes: with one write connection
// that would wait for itself.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// inLazyTx is inTx for a transaction that need not be durable when it
// commits: it commits without an fsync (synchronous=NORMAL for this one
// transaction). In WAL mode the log is written and synced in order, so the
// next durable commit (every batch's) makes it durable too; only a crash
// of the machine before then loses it. Poll claims use it: a lost claim is
// a lease that was never taken, which the poll's retry takes again.
func (s *Store) inLazyTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// The write connection must never stay lazy: put FULL back even
		// when ctx is done, and drop the connection if that fails.
		_, rerr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`)
		if rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			if err == nil {
				err = fmt.Errorf("restore synchronous=FULL: %w", rerr)
			}
		}
		conn.Close()
	}()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// dbtx is what both *sql.DB and *sql.Tx offer.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// micros is how times are stored: integer microseconds since the epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros stores an optional time.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// mapErr turns "no rows" and unique violations into the domain's sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return core.ErrNotFound
	}
	var se *sqlite3.Error
	if errors.As(err, &se) && (se.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return fmt.Errorf("%w (%s)", core.ErrConflict, se.Error())
	}
	return err
}
