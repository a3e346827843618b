package app_test

import (
	"bytes"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
)

// TestNoPlaintextCredentialsAtRest creates tokens (API and service),
// sessions and a password, then reads the whole database as raw bytes or
// text and the server's log: no token, session id or password may be in
// them, while their hashes are (which shows the scan sees the data).
func TestNoPlaintextCredentialsAtRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		_, team := ts.createUser("ada@example.com", "Acme", "")
		owner := ts.login("ada@example.com")

		secrets := map[string]string{"password": password, "session id": owner.session()}
		hashes := map[string][]byte{"session id": auth.HashSessionID(owner.session())}
		for _, role := range auth.Roles() {
			var tok tokenJSON
			owner.do("POST", "/api/v1/team/tokens", map[string]string{"name": "api " + string(role), "role": string(role)}).want(201).json(&tok)
			secrets["API-created "+string(role)+" token"] = tok.Secret
			hashes["API-created "+string(role)+" token"] = auth.HashToken(tok.Secret)
			ts.bearer(tok.Secret).do("GET", "/api/v1/me", nil).want(200) // writes last_used_at
		}
		_, cli := ts.issueToken(team.ID, auth.Viewer)
		secrets["service-created token"] = cli
		hashes["service-created token"] = auth.HashToken(cli)

		var dump []byte
		switch st := ts.Store.(type) {
		case *sqlite.Store:
			dump = sqliteFiles(t, ts.Config.DataDir)
		case *postgres.Store:
			dump = postgresRows(t, ts, st)
		default:
			t.Fatalf("unknown store %T", ts.Store)
		}
		for name, s := range secrets {
			if bytes.Contains(dump, []byte(s)) {
				t.Errorf("the %s database holds the plaintext %s", backend, name)
			}
		}
		for name, h := range hashes {
			// SQLite keeps the raw bytes; PostgreSQL's text form of bytea
			// is hex.
			if !bytes.Contains(dump, h) && !bytes.Contains(dump, []byte(hex.EncodeToString(h))) {
				t.Errorf("the hash of the %s is not in the database scan: the scan misses data", name)
			}
		}
		logs := ts.Logs.String()
		for name, s := range secrets {
			if bytes.Contains([]byte(logs), []byte(s)) {
				t.Errorf("the server log holds the plaintext %s", name)
			}
		}
	})
}

// sqliteFiles returns the bytes of every file in the data dir: the
// database, its WAL and shared memory, the key file.
func sqliteFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		all = append(all, b...)
		n++
		return nil
	})
	must(t, err)
	if n < 2 {
		t.Fatalf("found %d files in the data dir, want the database and its WAL at least", n)
	}
	return all
}

// postgresRows is a pg_dump of the data in text form: every row of every
// table outside the system schemas, as PostgreSQL renders a row to text,
// with api_tokens read explicitly by SELECT * as well.
func postgresRows(t *testing.T, ts *testServer, st *postgres.Store) []byte {
	t.Helper()
	ctx := ts.ctx()
	rows, err := st.Pool().Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
		FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	must(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	must(t, err)
	var all bytes.Buffer
	seenTokens := false
	for _, table := range tables {
		if table == "public.api_tokens" {
			seenTokens = true
		}
		rows, err := st.Pool().Query(ctx, `SELECT t::text FROM `+table+` t`)
		must(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		must(t, err)
		for _, l := range lines {
			all.WriteString(l + "\n")
		}
	}
	if !seenTokens {
		t.Fatalf("api_tokens not among the tables %v", tables)
	}
	rows, err = st.Pool().Query(ctx, `SELECT * FROM api_tokens`)
	must(t, err)
	for rows.Next() {
		vals, err := rows.Values()
		must(t, err)
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				all.Write(v)
			case string:
				all.WriteString(v)
			}
			all.WriteByte('\t')
		}
	}
	must(t, rows.Err())
	return all.Bytes()
}
