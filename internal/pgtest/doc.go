// Package pgtest gives tests a real, isolated PostgreSQL database.
//
// A test asks for a database and gets a postgres:// URL to a brand-new, empty
// one that only it uses; the database is dropped (WITH (FORCE), so leftover
// connections do not block it) when the test ends:
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		url := pgtest.DatabaseURL(t)
//		st, err := postgres.Open(t.Context(), url)
//		...
//	}
//
// Because every test has its own database, tests can run in parallel, and so
// can the test binaries of different packages that `go test ./...` starts.
// Tests that need to administer the server themselves (create a second
// database, inspect pg_stat_activity) use [Server] for a superuser URL.
//
// Tests of replication get a server of their own and streaming replicas
// of it, made with pg_basebackup, which they can stop, restart and pause
// without touching the shared server:
//
//	primary := pgtest.StartPrimary(t)
//	db := primary.DatabaseURL(t, "app")
//	replica := pgtest.StartReplica(t, primary.URL)
//	readURL := replica.URL(db) // the same database, on the replica
//	replica.PauseReplay(t)     // it now falls behind while the primary writes
//
// Tests of PostgreSQL going away stop their own server and start it again
// on the same port: primary.Stop(t, "fast") (or "immediate", a crash),
// then primary.Start(t).
//
// # Where the server comes from
//
// In order of preference:
//
//  1. TRIBUTARY_TEST_DATABASE_URL, if set: a superuser URL of a server someone
//     else runs (a CI service container, a local server). Databases are
//     created on it and dropped after each test.
//  2. A throwaway cluster started by this package, when initdb is on PATH or
//     under /usr/lib/postgresql/*/bin. It lives in os.TempDir()/
//     tributary-pgtest-<uid> and is shared by every test process: the first
//     one to need it takes a file lock, runs initdb and pg_ctl start, and the
//     others wait on the lock and then reuse it. It listens on 127.0.0.1 on a
//     free port (password auth, the password kept in the directory) and on a
//     unix socket in the directory, and is tuned for speed over durability
//     (fsync=off and friends). It is left running after the tests so the
//     next run starts instantly; if it died or its directory is damaged, the
//     next test restarts it or rebuilds it from scratch. When the tests run as
//     root, the cluster runs as the postgres OS user, since PostgreSQL
//     refuses to run as root. Stop it with
//     pg_ctl -D /tmp/tributary-pgtest-<uid>/data stop (as that user), or just
//     delete the directory once it is stopped.
//  3. Neither: the test is skipped, unless the CI environment variable is set,
//     in which case it fails: CI must never silently skip PostgreSQL.
package pgtest
