package sink

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/netguard"
)

// The postgres sink writes records as rows of a table in a team's own
// PostgreSQL database, with COPY, or, when an upsert key is set, with COPY
// into a temporary table and one INSERT … ON CONFLICT (key) DO UPDATE, all
// in one transaction per delivery: a delivery's rows are all there or none
// is.
//
// At-least-once: a retried delivery inserts its rows again unless an
// upsert key is set, with which it updates the same rows to the same
// values. Within one batch, the last record of a key wins.
//
// Columns get values converted to their type (read from the table when a
// delivery starts): integers, floating point and numeric, boolean, text,
// json and jsonb (the member's JSON as is), timestamp, timestamptz and date
// (RFC 3339 strings), uuid, arrays of these (JSON arrays), and any other
// type (enums, inet, …) from the member's text as PostgreSQL reads it.
// Absent and null members are NULL; a value that does not fit its column
// fails the delivery permanently, naming the column.
//
// Security: the connection string comes from a team secret, is read again
// for every delivery (so a rotated password takes effect), and may only
// hold host, port, user, password, database, sslmode, connect_timeout and
// application_name: nothing that reads this server's files (passfile,
// sslkey, service files) or environment. Connections go through Deps.Dial,
// so SSRF rules apply to the resolved address; identifiers are always
// quoted (pgx.Identifier), and no SQL is built from values.

// PostgresKind is the "postgres" kind. Settings:
//
//	dsn_secret: name of the team secret holding the connection URL,
//	            postgres://user:password@host:5432/database?sslmode=require
//	table:      "table" or "schema.table", used exactly as written (case
//	            sensitive, as if quoted)
//	columns:    map of column → record field; "ts" is the record's event
//	            time. Default: every column of the table whose name is a
//	            field's (or "ts") gets that field.
//	upsert:     {key: [columns]} to update rows on a conflict of that
//	            unique key instead of inserting
var PostgresKind = Kind{
	Name:    "postgres",
	Summary: "writes records as rows of a table in your PostgreSQL database, optionally upserting on a key",
	Description: "Each delivery inserts its records in one transaction into `table` of the database whose connection URL " +
		"the team secret `dsn_secret` holds. `columns` maps columns to record fields (`ts` is the event time; by default " +
		"every column named like a field gets it); `upsert.key` updates rows on a conflict of that unique key instead.",
	NewSettings: func() any { return new(postgresSettings) },
	Secrets: func(v any) []SecretRef {
		if s := v.(*postgresSettings); s.DSNSecret != "" {
			return []SecretRef{{Path: "dsn_secret", Name: s.DSNSecret}}
		}
		return nil
	},
	Example: `{"dsn_secret":"warehouse-dsn","table":"public.observations","columns":{"station":"station","observed_at":"ts","temperature_c":"temperature_c"},` +
		`"upsert":{"key":["station","observed_at"]}}`,
	MaxBatch: 10000,
	Validate: func(settings json.RawMessage, _ Deps) ([]string, error) {
		p, err := parsePostgresSettings(settings)
		if err != nil {
			return nil, err
		}
		return []string{p.dsnSecret}, nil
	},
	Open: func(_ context.Context, teamID uuid.UUID, settings json.RawMessage, deps Deps) (Sink, error) {
		p, err := parsePostgresSettings(settings)
		if err != nil {
			return nil, Permanent(err)
		}
		if deps.Dial == nil || deps.Secret == nil {
			return nil, errors.New("postgres: the sink needs the SSRF-safe dialer and the secret store")
		}
		return &postgresSink{p: p, teamID: teamID, deps: deps}, nil
	},
}

type postgresSettings struct {
	DSNSecret string            `json:"dsn_secret"`
	Table     string            `json:"table"`
	Columns   map[string]string `json:"columns,omitempty"`
	Upsert    *struct {
		Key []string `json:"key"`
	} `json:"upsert,omitempty"`
}

// pgParams are valid settings.
type pgParams struct {
	dsnSecret string
	table     pgx.Identifier
	columns   map[string]string // column → field; nil: by name
	key       []string          // upsert key columns; nil: plain insert
}

// pgIdent is what this sink accepts as a table, schema or column name.
var pgIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,62}$`)

func parsePostgresSettings(raw json.RawMessage) (pgParams, error) {
	var s postgresSettings
	if err := decodeStrict(raw, &s); err != nil {
		return pgParams{}, fmt.Errorf("postgres: %w", err)
	}
	var p pgParams
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("postgres: "+format, args...)) }

	if strings.TrimSpace(s.DSNSecret) == "" {
		bad("dsn_secret is required: the name of a team secret holding the connection URL")
	}
	p.dsnSecret = s.DSNSecret

	parts := strings.Split(s.Table, ".")
	switch {
	case s.Table == "":
		bad(`table is required: "table" or "schema.table"`)
	case len(parts) > 2:
		bad(`table %q has too many dots: write "table" or "schema.table"`, s.Table)
	default:
		for _, part := range parts {
			if !pgIdent.MatchString(part) {
				bad(`table %q: %q is not a name of letters, digits, _ and $ (up to 63, not starting with a digit)`, s.Table, part)
			}
		}
		p.table = pgx.Identifier(parts)
	}

	if s.Columns != nil {
		if len(s.Columns) == 0 {
			bad("columns is empty; leave it out to match columns to fields by name")
		}
		p.columns = map[string]string{}
		for col, field := range s.Columns {
			if !pgIdent.MatchString(col) {
				bad("column %q is not a name of letters, digits, _ and $ (up to 63, not starting with a digit)", col)
			}
			if field == "" {
				bad("column %q: the record field is empty", col)
			}
			p.columns[col] = field
		}
	}
	if s.Upsert != nil {
		if len(s.Upsert.Key) == 0 {
			bad("upsert.key is empty: list the columns of a unique key")
		}
		for _, k := range s.Upsert.Key {
			switch {
			case !pgIdent.MatchString(k):
				bad("upsert key column %q is not a valid name", k)
			case slices.Contains(p.key, k):
				bad("upsert key column %q is listed twice", k)
			case p.columns != nil && p.columns[k] == "":
				bad("upsert key column %q is not among columns", k)
			}
			p.key = append(p.key, k)
		}
	}
	return p, errors.Join(errs...)
}

// postgresSink is an open postgres sink. It holds one connection, made on
// the first delivery and again after a failure.
type postgresSink struct {
	p      pgParams
	teamID uuid.UUID
	deps   Deps

	mu       sync.Mutex
	conn     *pgx.Conn
	dsn      string    // what conn was made with
	lastUsed time.Time // of conn
	target   *pgTarget // cached description of the target columns
	closed   bool
}

var _ Sink = (*postgresSink)(nil)

// pgTarget is the resolved column mapping of a table: columns, in order,
// the field each takes, and the column types.
type pgTarget struct {
	fieldsKey string // the batch fields it was resolved for (default mapping)
	columns   []string
	fields    []string
	oids      []uint32
	types     *pgtype.Map // the connection's, for types this file does not know
}

// pgIdleCheck is how long a connection may sit unused before it is pinged
// before use: the server or a proxy may have dropped it meanwhile.
const pgIdleCheck = time.Minute

func (s *postgresSink) Deliver(ctx context.Context, b Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("postgres: sink is closed")
	}
	dsn, err := s.deps.Secret(ctx, s.teamID, s.p.dsnSecret)
	if err != nil {
		return teamSecretError(s.p.dsnSecret, err)
	}
	conn, err := s.connect(ctx, strings.TrimSpace(string(dsn)))
	if err != nil {
		return err
	}
	err = s.deliver(ctx, conn, b)
	if err != nil {
		s.target = nil // the table may have changed
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || conn.IsClosed() {
			// Not an answer of the server: the connection may be broken.
			s.closeConn()
		}
		return pgDeliverError(s.p.table, err)
	}
	s.lastUsed = time.Now()
	return nil
}

// connect returns the open connection, or makes one.
func (s *postgresSink) connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	if s.conn != nil && (s.dsn != dsn || s.conn.IsClosed()) {
		s.closeConn()
	}
	if s.conn != nil && time.Since(s.lastUsed) > pgIdleCheck {
		if err := s.conn.Ping(ctx); err != nil {
			s.closeConn()
		}
	}
	if s.conn != nil {
		return s.conn, nil
	}
	cfg, err := pgConnConfig(dsn, s.deps.Dial)
	if err != nil {
		return nil, Permanent(fmt.Errorf("postgres: the connection URL in secret %q: %w", s.p.dsnSecret, err))
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, pgDeliverError(s.p.table, fmt.Errorf("postgres: connect: %w", err))
	}
	s.conn, s.dsn, s.lastUsed, s.target = conn, dsn, time.Now(), nil
	return conn, nil
}

func (s *postgresSink) closeConn() {
	if s.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.conn.Close(ctx)
	s.conn, s.target = nil, nil
}

// pgAllowedKeys are the connection string parameters a team may set.
var pgAllowedKeys = []string{"host", "port", "user", "password", "dbname", "sslmode", "connect_timeout", "application_name"}

// pgConnConfig parses a team's connection URL so that nothing but the URL
// itself decides where and as whom to connect: not this server's
// environment (PGHOST, PGPASSWORD, …), password file or client
// certificates.
func pgConnConfig(dsn string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*pgx.ConnConfig, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, errors.New("it must be a URL like postgres://user:password@host:5432/database")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url.Parse quotes its input, which holds a password.
		return nil, errors.New("it is not a valid URL")
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, errors.New("it names no user: postgres://user:password@host/database")
	}
	if u.Hostname() == "" {
		return nil, errors.New("it names no host: postgres://user:password@host/database")
	}
	cfg, err := pgx.ParseConfigWithOptions(dsn, pgx.ParseConfigOptions{
		ParseConfigOptions: pgconn.ParseConfigOptions{ConnStringAllowedKeys: pgAllowedKeys},
	})
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			// Its message quotes the connection string.
			return nil, fmt.Errorf("it does not parse (parameters allowed: %s)", strings.Join(pgAllowedKeys, ", "))
		}
		return nil, errors.New("it does not parse")
	}
	// Only the URL's own user, password and database: defaults from the
	// environment or ~/.pgpass must not fill the gaps.
	password, _ := u.User.Password()
	cfg.User = u.User.Username()
	cfg.Password = password
	cfg.Database = strings.TrimPrefix(u.Path, "/")
	if cfg.Database == "" {
		cfg.Database = cfg.User
	}
	for _, tc := range tlsConfigs(cfg) {
		tc.Certificates = nil
		tc.GetClientCertificate = nil
	}
	// netguard resolves the host itself, checking every address and
	// dialling only the checked one (no DNS rebinding).
	cfg.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	cfg.DialFunc = dial
	cfg.ValidateConnect = nil
	cfg.AfterConnect = nil
	cfg.RuntimeParams["application_name"] = cmp.Or(cfg.RuntimeParams["application_name"], "tributary")
	return cfg, nil
}

func tlsConfigs(cfg *pgx.ConnConfig) []*tls.Config {
	var out []*tls.Config
	if cfg.TLSConfig != nil {
		out = append(out, cfg.TLSConfig)
	}
	for _, f := range cfg.Fallbacks {
		if f.TLSConfig != nil {
			out = append(out, f.TLSConfig)
		}
	}
	return out
}

// deliver writes the batch in one transaction.
func (s *postgresSink) deliver(ctx context.Context, conn *pgx.Conn, b Batch) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit

	t, err := s.resolve(ctx, conn, b.Fields)
	if err != nil {
		return err
	}
	rows := make([][]any, len(b.Records))
	for i, r := range b.Records {
		row, err := t.row(r)
		if err != nil {
			return Permanent(fmt.Errorf("postgres: record %d: %w", i, err))
		}
		if s.p.key != nil {
			row = append(row, int64(i))
		}
		rows[i] = row
	}

	if s.p.key == nil {
		if _, err := tx.CopyFrom(ctx, s.p.table, t.columns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}

	for _, k := range s.p.key {
		if !slices.Contains(t.columns, k) {
			return Permanent(fmt.Errorf("postgres: upsert key column %q gets no field; map a field to it in columns", k))
		}
	}
	const tmp, ord = "tributary_upsert", "__tributary_ord"
	cols := quoteAll(t.columns)
	keys := quoteAll(s.p.key)
	table := s.p.table.Sanitize()
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s, 0::bigint AS %s FROM %s WITH NO DATA`,
		pgx.Identifier{tmp}.Sanitize(), cols, pgx.Identifier{ord}.Sanitize(), table)); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tmp}, append(slices.Clone(t.columns), ord), pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	var set []string
	for _, c := range t.columns {
		if !slices.Contains(s.p.key, c) {
			q := pgx.Identifier{c}.Sanitize()
			set = append(set, q+" = EXCLUDED."+q)
		}
	}
	action := "DO NOTHING"
	if len(set) > 0 {
		action = "DO UPDATE SET " + strings.Join(set, ", ")
	}
	// DISTINCT ON keeps the last record of each key: one INSERT may not
	// update a row twice.
	if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (%s) SELECT DISTINCT ON (%s) %s FROM %s ORDER BY %s, %s DESC ON CONFLICT (%s) %s`,
		table, cols, keys, cols, pgx.Identifier{tmp}.Sanitize(), keys, pgx.Identifier{ord}.Sanitize(), keys, action)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// resolve returns the target columns for a batch with these fields, from
// the cache or by asking the server for the table's columns and types.
func (s *postgresSink) resolve(ctx context.Context, conn *pgx.Conn, fields []Field) (*pgTarget, error) {
	key := ""
	if s.p.columns == nil {
		for _, f := range fields {
			key += f.Name + "\x00"
		}
	}
	if s.target != nil && s.target.fieldsKey == key {
		return s.target, nil
	}
	t := &pgTarget{fieldsKey: key, types: conn.TypeMap()}
	if s.p.columns != nil {
		for c := range s.p.columns {
			t.columns = append(t.columns, c)
		}
		slices.Sort(t.columns)
		sd, err := conn.PgConn().Prepare(ctx, "", fmt.Sprintf("SELECT %s FROM %s LIMIT 0", quoteAll(t.columns), s.p.table.Sanitize()), nil)
		if err != nil {
			return nil, err
		}
		for i, fd := range sd.Fields {
			t.fields = append(t.fields, s.p.columns[t.columns[i]])
			t.oids = append(t.oids, fd.DataTypeOID)
		}
	} else {
		sd, err := conn.PgConn().Prepare(ctx, "", fmt.Sprintf("SELECT * FROM %s LIMIT 0", s.p.table.Sanitize()), nil)
		if err != nil {
			return nil, err
		}
		names := map[string]bool{tsField: true}
		for _, f := range fields {
			names[f.Name] = true
		}
		for _, fd := range sd.Fields {
			if names[fd.Name] && !slices.Contains(t.columns, fd.Name) {
				t.columns = append(t.columns, fd.Name)
				t.fields = append(t.fields, fd.Name)
				t.oids = append(t.oids, fd.DataTypeOID)
			}
		}
		if len(t.columns) == 0 {
			return nil, Permanent(fmt.Errorf("postgres: no column of table %s is named like a record field or ts; name them alike or set columns", s.p.table.Sanitize()))
		}
	}
	s.target = t
	return t, nil
}

// row converts a record to the target's column values.
func (t *pgTarget) row(r core.Record) ([]any, error) {
	m, err := recordMembers(r.Data)
	if err != nil {
		return nil, err
	}
	row := make([]any, len(t.columns))
	for i, f := range t.fields {
		if f == tsField {
			row[i], err = pgTime(t.oids[i], t.columns[i], r.TS)
		} else {
			row[i], err = t.value(t.oids[i], t.columns[i], m[f])
		}
		if err != nil {
			return nil, err
		}
	}
	return row, nil
}

// value converts a member for a column of type oid: the types pgValue
// knows, arrays of them (from JSON arrays), and anything else as text,
// checked here so that a value the column cannot take fails with a clear
// error rather than in the middle of COPY.
func (t *pgTarget) value(oid uint32, col string, raw json.RawMessage) (any, error) {
	if jsonNull(raw) {
		return nil, nil
	}
	if v, ok, err := pgValue(oid, col, raw); ok || err != nil {
		return v, err
	}
	typ, known := t.types.TypeForOID(oid)
	if known {
		if ac, isArray := typ.Codec.(*pgtype.ArrayCodec); isArray && ac.ElementType != nil {
			var elems []json.RawMessage
			if err := json.Unmarshal(raw, &elems); err != nil {
				return nil, fmt.Errorf("column %q: %s is not a JSON array", col, valueExcerpt(raw))
			}
			out := make([]any, len(elems))
			for i, e := range elems {
				v, err := t.value(ac.ElementType.OID, col, e)
				if err != nil {
					return nil, err
				}
				out[i] = v
			}
			return out, nil
		}
	}
	text, err := jsonText(raw)
	if err != nil {
		return nil, fmt.Errorf("column %q: %s is not valid JSON", col, valueExcerpt(raw))
	}
	if _, err := t.types.Encode(oid, pgtype.BinaryFormatCode, text, nil); err == nil {
		return text, nil
	}
	// As pgx's COPY does: parse the text as the type, then encode that.
	var v any
	if err := t.types.Scan(oid, pgtype.TextFormatCode, []byte(text), &v); err == nil {
		if _, err := t.types.Encode(oid, pgtype.BinaryFormatCode, v, nil); err == nil {
			return v, nil
		}
	}
	name := fmt.Sprintf("type %d", oid)
	if known {
		name = typ.Name
	}
	return nil, fmt.Errorf("column %q: %s cannot be written to a %s column", col, valueExcerpt(raw), name)
}

// pgTime is the event time for a column.
func pgTime(oid uint32, col string, ts time.Time) (any, error) {
	switch oid {
	case pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.DateOID:
		return ts.UTC(), nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID:
		return ts.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("column %q takes the event time (ts) but is not a timestamp, timestamptz, date or text column", col)
}

// pgValue converts a member to a value for a column of type oid, for the
// types it knows (ok); a null member is nil.
func pgValue(oid uint32, col string, raw json.RawMessage) (v any, ok bool, err error) {
	if jsonNull(raw) {
		return nil, true, nil
	}
	typ := ""
	switch oid {
	case pgtype.BoolOID:
		typ = "boolean"
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		typ = "integer"
	case pgtype.Float4OID, pgtype.Float8OID:
		typ = "number"
	case pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.DateOID:
		typ = "time"
	case pgtype.JSONOID, pgtype.JSONBOID:
		return json.RawMessage(raw), true, nil
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		s, err := jsonText(raw)
		if err != nil {
			return nil, true, fmt.Errorf("column %q: %s is not valid JSON", col, valueExcerpt(raw))
		}
		return s, true, nil
	case pgtype.NumericOID:
		if _, err := typedValue(col, "number", raw); err != nil {
			return nil, true, fmt.Errorf("column %q: %s is not a number", col, valueExcerpt(raw))
		}
		text, _ := jsonText(raw)
		var n pgtype.Numeric
		if err := n.Scan(strings.TrimSpace(text)); err != nil {
			return nil, true, fmt.Errorf("column %q: %s is not a number", col, valueExcerpt(raw))
		}
		return n, true, nil
	case pgtype.UUIDOID:
		text, _ := jsonText(raw)
		id, err := uuid.Parse(text)
		if err != nil {
			return nil, true, fmt.Errorf("column %q: %s is not a UUID", col, valueExcerpt(raw))
		}
		return pgtype.UUID{Bytes: id, Valid: true}, true, nil
	default:
		return nil, false, nil
	}
	v, err = typedValue(col, typ, raw)
	if err != nil {
		return nil, true, fmt.Errorf("column %q: %s is not a valid %s", col, valueExcerpt(raw), typ)
	}
	if t, isTime := v.(time.Time); isTime {
		return t.UTC(), true, nil
	}
	return v, true, nil
}

// pgDeliverError says whether a failure can be fixed by retrying: missing
// tables and columns, values that do not fit, constraint violations, and
// refused logins need a person; lost connections and overloaded servers
// do not.
func pgDeliverError(table pgx.Identifier, err error) error {
	if IsPermanent(err) {
		return err
	}
	msg := func(format string, args ...any) error {
		e := fmt.Errorf(format, args...)
		if !strings.HasPrefix(e.Error(), "postgres: ") {
			e = fmt.Errorf("postgres: %w", e)
		}
		return e
	}
	if errors.Is(err, netguard.ErrForbidden) {
		return Permanent(msg("%w", err))
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return msg("%w", err)
	}
	switch {
	case pgErr.Code == "42P01":
		return Permanent(msg("table %s does not exist; create it or change the sink's table: %w", table.Sanitize(), pgErr))
	case pgErr.Code == "42703":
		return Permanent(msg("a column of %s does not exist; add it or change the sink's columns: %w", table.Sanitize(), pgErr))
	case pgErr.Code == "42P10":
		return Permanent(msg("the upsert key is not a unique key or primary key of %s: %w", table.Sanitize(), pgErr))
	case pgErr.Code == "57014" && strings.Contains(pgErr.Message, "COPY from stdin failed"):
		// COPY canceled by the client: a value it could not encode.
		return Permanent(msg("%w", err))
	case pgErr.Code == "23505":
		return Permanent(msg("a row already exists (a retried delivery inserts again; set upsert to make retries update): %w", pgErr))
	}
	switch pgErr.Code[:2] {
	case "22", // data exception: a value that does not fit
		"23", // integrity constraint violation
		"28", // invalid authorization
		"3D", // invalid catalog name: no such database
		"3F", // invalid schema name
		"42", // syntax error or access rule violation: privileges, types
		"0A", // feature not supported
		"44": // with check option violation
		return Permanent(msg("%w", err))
	}
	return msg("%w", err)
}

// Close closes the connection.
func (s *postgresSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.closeConn()
	return nil
}
