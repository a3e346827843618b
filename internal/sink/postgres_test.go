package sink

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// pgSetup is a database of its own, a connection to set it up and look at
// it, and the sink's Deps with the database URL as the team secret "pg".
type pgSetup struct {
	url  string
	conn *pgx.Conn
	deps Deps
}

func newPGSetup(t *testing.T, ddl ...string) *pgSetup {
	t.Helper()
	u := pgtest.DatabaseURL(t)
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	for _, q := range ddl {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return &pgSetup{url: u, conn: conn, deps: destDeps(t, true, map[string]string{"pg": u})}
}

func (s *pgSetup) open(t *testing.T, settings string) Sink {
	t.Helper()
	secrets, err := PostgresKind.Validate(json.RawMessage(settings), s.deps)
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !slices.Equal(secrets, []string{"pg"}) {
		t.Fatalf("secrets %v, want [pg]", secrets)
	}
	sk, err := PostgresKind.Open(t.Context(), uuid.New(), json.RawMessage(settings), s.deps)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { sk.Close() })
	return sk
}

func (s *pgSetup) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := s.conn.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPostgresValidate(t *testing.T) {
	t.Parallel()
	deps := destDeps(t, false, nil)
	for _, good := range []string{
		`{"dsn_secret":"pg","table":"events"}`,
		`{"dsn_secret":"pg","table":"analytics.Events","columns":{"at":"ts","temp_c":"temp"},"upsert":{"key":["at"]}}`,
	} {
		if _, err := PostgresKind.Validate(json.RawMessage(good), deps); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, tc := range []struct{ settings, want string }{
		{`{"table":"t"}`, "dsn_secret is required"},
		{`{"dsn_secret":"pg"}`, "table is required"},
		{`{"dsn_secret":"pg","table":"a.b.c"}`, "too many dots"},
		{`{"dsn_secret":"pg","table":"x; DROP TABLE users"}`, "is not a name"},
		{`{"dsn_secret":"pg","table":"\"quoted\""}`, "is not a name"},
		{`{"dsn_secret":"pg","table":"1abc"}`, "is not a name"},
		{`{"dsn_secret":"pg","table":"` + strings.Repeat("a", 64) + `"}`, "is not a name"},
		{`{"dsn_secret":"pg","table":"t","columns":{}}`, "columns is empty"},
		{`{"dsn_secret":"pg","table":"t","columns":{"a b":"x"}}`, `column "a b"`},
		{`{"dsn_secret":"pg","table":"t","columns":{"a":""}}`, "field is empty"},
		{`{"dsn_secret":"pg","table":"t","upsert":{"key":[]}}`, "upsert.key is empty"},
		{`{"dsn_secret":"pg","table":"t","columns":{"a":"x"},"upsert":{"key":["b"]}}`, `"b" is not among columns`},
		{`{"dsn_secret":"pg","table":"t","upsert":{"key":["a","a"]}}`, "listed twice"},
		{`{"dsn_secret":"pg","table":"t","dsn":"postgres://x"}`, `unknown setting "dsn"`},
	} {
		_, err := PostgresKind.Validate(json.RawMessage(tc.settings), deps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.settings, err, tc.want)
		}
	}
}

func TestPGConnConfig(t *testing.T) {
	t.Setenv("PGPASSWORD", "from-the-environment")
	t.Setenv("PGDATABASE", "from-the-environment")
	dial := (&net.Dialer{}).DialContext
	cfg, err := pgConnConfig("postgres://alice@db.example.com:5433/?sslmode=require", dial)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password != "" || cfg.Database != "alice" || cfg.Host != "db.example.com" || cfg.Port != 5433 {
		t.Errorf("config took defaults from the environment: password %q, database %q, host %s:%d", cfg.Password, cfg.Database, cfg.Host, cfg.Port)
	}
	for _, tc := range []struct{ dsn, want string }{
		{"host=db user=x", "must be a URL"},
		{"postgres://db.example.com/x", "names no user"},
		{"postgres://u:p@/x", "names no host"},
		{"postgres://u:p@db/x?passfile=/etc/shadow", "does not parse"},
		{"postgres://u:p@db/x?sslrootcert=/etc/ssl/private/key.pem", "does not parse"},
		{"postgres://u:p@db/x?service=prod", "does not parse"},
	} {
		_, err := pgConnConfig(tc.dsn, dial)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.dsn, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "u:p@") {
			t.Errorf("%s: the error quotes the password: %v", tc.dsn, err)
		}
	}
}

func TestPostgresInsert(t *testing.T) {
	t.Parallel()
	s := newPGSetup(t, `CREATE TABLE readings (
		id bigserial PRIMARY KEY,
		ts timestamptz NOT NULL,
		station text,
		temp double precision,
		count integer,
		tags jsonb,
		note text DEFAULT 'none'
	)`)
	sk := s.open(t, `{"dsn_secret":"pg","table":"public.readings"}`)
	b := destBatch("d-1", 5)
	b.Records[2].Data = json.RawMessage(`{"station":"s2","temp":null}`)
	if err := sk.Deliver(t.Context(), b); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	rows, err := s.conn.Query(t.Context(), `SELECT ts, station, temp, count, tags, note FROM readings ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		TS      time.Time
		Station *string
		Temp    *float64
		Count   *int32
		Tags    map[string]any
		Note    string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d rows, want 5", len(got))
	}
	r0, r2 := got[0], got[2]
	if !r0.TS.Equal(b.Records[0].TS) || *r0.Station != "s0" || *r0.Temp != 0.5 || *r0.Count != 0 || r0.Tags["i"] != 0.0 || r0.Note != "none" {
		t.Errorf("row 0 = %+v", r0)
	}
	if r2.Temp != nil || r2.Count != nil || r2.Tags != nil || *r2.Station != "s2" {
		t.Errorf("row 2 = %+v: absent and null fields should be NULL", r2)
	}

	// Without an upsert key, a redelivery inserts again: at least once.
	if err := sk.Deliver(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if n := s.count(t, "readings"); n != 10 {
		t.Errorf("%d rows after a redelivery, want 10", n)
	}
}

func TestPostgresColumnsAndTypes(t *testing.T) {
	t.Parallel()
	s := newPGSetup(t, `CREATE SCHEMA lake`, `CREATE TABLE lake."Obs" (
		observed_at timestamp, day date, id uuid, amount numeric(12,4), ok boolean, label varchar(10), raw json, n smallint, at_text text
	)`)
	sk := s.open(t, `{"dsn_secret":"pg","table":"lake.Obs","columns":{
		"observed_at":"ts","day":"when","id":"uid","amount":"amount","ok":"ok","label":"station","raw":"tags","n":"count","at_text":"ts"}}`)
	b := destBatch("c-1", 1)
	b.Records[0].Data = json.RawMessage(`{"when":"2026-11-28T00:00:00Z","uid":"6f1c0b0e-3c55-4f7e-9a57-2a6c0c7d0a11",
		"amount":"12345678.1234","ok":"true","station":"berlin","tags":[1,2],"count":7}`)
	if err := sk.Deliver(t.Context(), b); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	var (
		observed time.Time
		id       string
		amount   string
		ok       bool
		label    string
		raw      string
		n        int
		atText   string
	)
	err := s.conn.QueryRow(t.Context(), `SELECT observed_at, id::text, amount::text, ok, label, raw::text, n, at_text FROM lake."Obs"`).
		Scan(&observed, &id, &amount, &ok, &label, &raw, &n, &atText)
	if err != nil {
		t.Fatal(err)
	}
	if !observed.Equal(b.Records[0].TS) || id != "6f1c0b0e-3c55-4f7e-9a57-2a6c0c7d0a11" || amount != "12345678.1234" ||
		!ok || label != "berlin" || raw != "[1,2]" || n != 7 || atText != "2026-11-28T13:00:00Z" {
		t.Errorf("row = %v %s %s %v %s %s %d %s", observed, id, amount, ok, label, raw, n, atText)
	}

	// A value that does not fit its column fails permanently, naming it.
	b.Records[0].Data = json.RawMessage(`{"count":"many"}`)
	err = sk.Deliver(t.Context(), b)
	if !IsPermanent(err) || !strings.Contains(err.Error(), `column "n"`) {
		t.Errorf("a bad smallint: %v, want a permanent error naming the column", err)
	}
	b.Records[0].Data = json.RawMessage(`{"station":"far too long for ten"}`)
	err = sk.Deliver(t.Context(), b)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "22001") {
		t.Errorf("a value too long for varchar(10): %v, want a permanent error", err)
	}
	// The sink recovers after a failed delivery.
	b.Records[0].Data = json.RawMessage(`{"station":"ok"}`)
	if err := sk.Deliver(t.Context(), b); err != nil {
		t.Errorf("deliver after failures: %v", err)
	}
}

func TestPostgresUpsert(t *testing.T) {
	t.Parallel()
	s := newPGSetup(t, `CREATE TABLE latest (station text PRIMARY KEY, ts timestamptz, temp float8, count bigint)`)
	sk := s.open(t, `{"dsn_secret":"pg","table":"latest","upsert":{"key":["station"]}}`)
	b := destBatch("u-1", 7) // stations s0, s1, s2 repeat: the last of each wins
	for range 2 {            // a redelivery changes nothing
		if err := sk.Deliver(t.Context(), b); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if n := s.count(t, "latest"); n != 3 {
			t.Fatalf("%d rows, want 3", n)
		}
	}
	var temp float64
	var count int64
	if err := s.conn.QueryRow(t.Context(), `SELECT temp, count FROM latest WHERE station = 's0'`).Scan(&temp, &count); err != nil {
		t.Fatal(err)
	}
	if temp != 6.5 || count != 6 {
		t.Errorf("s0 = %v, %v; want the last record's 6.5, 6", temp, count)
	}
	// A newer batch updates.
	nb := destBatch("u-2", 1)
	nb.Records[0].Data = json.RawMessage(`{"station":"s0","temp":-1,"count":100}`)
	if err := sk.Deliver(t.Context(), nb); err != nil {
		t.Fatal(err)
	}
	if err := s.conn.QueryRow(t.Context(), `SELECT temp, count FROM latest WHERE station = 's0'`).Scan(&temp, &count); err != nil {
		t.Fatal(err)
	}
	if temp != -1 || count != 100 {
		t.Errorf("s0 after an update = %v, %v", temp, count)
	}

	// Upsert on columns that are not a unique key: permanent.
	if _, err := s.conn.Exec(t.Context(), `CREATE TABLE nokey (station text, temp float8)`); err != nil {
		t.Fatal(err)
	}
	sk2 := s.open(t, `{"dsn_secret":"pg","table":"nokey","upsert":{"key":["station"]}}`)
	if err := sk2.Deliver(t.Context(), b); !IsPermanent(err) || !strings.Contains(err.Error(), "not a unique key") {
		t.Errorf("upsert without a unique key: %v", err)
	}
}

func TestPostgresFailures(t *testing.T) {
	t.Parallel()
	s := newPGSetup(t, `CREATE TABLE t (ts timestamptz, station text)`, `CREATE TABLE other (x int)`)
	ctx := t.Context()
	b := destBatch("f-1", 2)
	for _, tc := range []struct {
		name, settings, want string
		permanent            bool
	}{
		{"missing table", `{"dsn_secret":"pg","table":"nope"}`, `table "nope" does not exist`, true},
		{"missing schema", `{"dsn_secret":"pg","table":"nope.t"}`, "does not exist", true},
		{"missing column", `{"dsn_secret":"pg","table":"t","columns":{"ts":"ts","temperature":"temp"}}`, "column of \"t\" does not exist", true},
		{"no matching column", `{"dsn_secret":"pg","table":"other"}`, "no column of table", true},
		{"missing secret", `{"dsn_secret":"nope","table":"t"}`, `"nope" does not exist`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deps := s.deps
			sk, err := PostgresKind.Open(ctx, uuid.New(), json.RawMessage(tc.settings), deps)
			if err != nil {
				t.Fatal(err)
			}
			defer sk.Close()
			err = sk.Deliver(ctx, b)
			if err == nil || IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("deliver: %v; want permanent=%v containing %q", err, tc.permanent, tc.want)
			}
		})
	}

	u, _ := url.Parse(s.url)
	openWith := func(t *testing.T, dsn string, allowLoopback bool) Sink {
		deps := destDeps(t, allowLoopback, map[string]string{"pg": dsn})
		sk, err := PostgresKind.Open(ctx, uuid.New(), json.RawMessage(`{"dsn_secret":"pg","table":"t"}`), deps)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sk.Close() })
		return sk
	}
	t.Run("server down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := *u
		down.Host = l.Addr().String()
		l.Close()
		err = openWith(t, down.String(), true).Deliver(ctx, b)
		if err == nil || IsPermanent(err) {
			t.Fatalf("deliver to a server that is down: %v, want a retryable error", err)
		}
		if strings.Contains(err.Error(), urlPassword(u)) {
			t.Errorf("the error shows the password: %v", err)
		}
	})
	t.Run("refused by the SSRF guard", func(t *testing.T) {
		err := openWith(t, s.url, false).Deliver(ctx, b)
		if !IsPermanent(err) || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("deliver to loopback without the allow list: %v, want a permanent refusal", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := *u
		bad.User = url.UserPassword(u.User.Username(), "wrong")
		err := openWith(t, bad.String(), true).Deliver(ctx, b)
		if !IsPermanent(err) || !strings.Contains(err.Error(), "28P01") {
			t.Fatalf("deliver with a wrong password: %v, want a permanent error", err)
		}
	})
	t.Run("disallowed parameter", func(t *testing.T) {
		withFile := *u
		withFile.RawQuery = "passfile=/etc/passwd"
		err := openWith(t, withFile.String(), true).Deliver(ctx, b)
		if !IsPermanent(err) || !strings.Contains(err.Error(), "parameters allowed") {
			t.Fatalf("deliver with passfile: %v, want a permanent error", err)
		}
	})
}

func urlPassword(u *url.URL) string {
	p, _ := u.User.Password()
	if p == "" {
		return "\x00never"
	}
	return p
}

// TestPostgresReconnects shows that a sink whose connection was killed
// fails one delivery with a retryable error, or none, and then works.
func TestPostgresReconnects(t *testing.T) {
	t.Parallel()
	s := newPGSetup(t, `CREATE TABLE t (ts timestamptz, station text)`)
	sk := s.open(t, `{"dsn_secret":"pg","table":"t"}`)
	ctx := t.Context()
	if err := sk.Deliver(ctx, destBatch("r-1", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tributary' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	err := sk.Deliver(ctx, destBatch("r-2", 1))
	if IsPermanent(err) {
		t.Fatalf("deliver on a killed connection: %v, want retryable", err)
	}
	if err != nil {
		if err := sk.Deliver(ctx, destBatch("r-2", 1)); err != nil {
			t.Fatalf("retry after reconnect: %v", err)
		}
	}
	if n := s.count(t, "t"); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}

func TestPostgresOtherTypes(t *testing.T) {
	t.Parallel()
	s := newPGSetup(t, `CREATE TYPE mood AS ENUM ('happy', 'sad')`,
		`CREATE TABLE t (ts timestamptz, mood mood, counts int[], names text[], addr inet, point point)`)
	sk := s.open(t, `{"dsn_secret":"pg","table":"t"}`)
	b := destBatch("o-1", 1)
	b.Fields = []Field{{Name: "mood"}, {Name: "counts"}, {Name: "names"}, {Name: "addr"}, {Name: "point"}}
	b.Records[0].Data = json.RawMessage(`{"mood":"happy","counts":[1,2,null],"names":["a","b"],"addr":"10.0.0.1","point":"(1,2)"}`)
	if err := sk.Deliver(t.Context(), b); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	var got string
	if err := s.conn.QueryRow(t.Context(), `SELECT concat_ws('|', mood, counts, names, addr, point) FROM t`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != `happy|{1,2,NULL}|{a,b}|10.0.0.1|(1,2)` {
		t.Errorf("row = %s", got)
	}
	for _, tc := range []struct{ data, want string }{
		{`{"mood":"angry"}`, "22P02"},                         // refused by the server
		{`{"counts":[1,"x"]}`, `column "counts"`},             // by the conversion
		{`{"counts":"1,2"}`, `column "counts"`},               // not an array
		{`{"addr":"not an address"}`, `column "addr"`},        // by the encoder
		{`{"point":{"x":1}}`, `cannot be written to a point`}, // likewise
	} {
		b.Records[0].Data = json.RawMessage(tc.data)
		err := sk.Deliver(t.Context(), b)
		if !IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a permanent error containing %q", tc.data, err, tc.want)
		}
	}
}
