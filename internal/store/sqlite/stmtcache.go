package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
)

// SQLite compiles a statement's text each time it runs unless the
// statement is prepared once and run again. database/sql's ExecContext and
// QueryContext without a prepared *sql.Stmt compile every time: on the
// ingest and polling paths that was 10–17% of the node's CPU. A
// cachingConn keeps the statements it ran prepared, keyed by their text,
// so the store's code keeps writing plain SQL where it runs.

// stmtCacheSize bounds the statements kept per connection. The store has
// fewer fixed statements than this; statements whose text varies (the
// multi-row inserts of a short batch, lists of ids) come and go.
const stmtCacheSize = 256

// cachingConnector opens connections that keep their statements.
type cachingConnector struct {
	driver.Connector
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := conn.(interface {
		driver.ExecerContext
		driver.QueryerContext
		driver.ConnPrepareContext
		driver.ConnBeginTx
	}); !ok {
		conn.Close()
		return nil, errors.New("sqlite: the driver's connection lacks the context methods the store needs")
	}
	return &cachingConn{Conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

// cachingConn is a driver connection with a statement cache. database/sql
// uses a connection from one goroutine at a time, so it needs no lock.
type cachingConn struct {
	driver.Conn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	stmt driver.Stmt
	busy bool // its rows are open: a second use at once gets its own statement
}

var (
	_ driver.ExecerContext      = (*cachingConn)(nil)
	_ driver.QueryerContext     = (*cachingConn)(nil)
	_ driver.ConnPrepareContext = (*cachingConn)(nil)
	_ driver.ConnBeginTx        = (*cachingConn)(nil)
	_ driver.SessionResetter    = (*cachingConn)(nil)
	_ driver.Validator          = (*cachingConn)(nil)
	_ driver.Pinger             = (*cachingConn)(nil)
)

// cached returns the prepared statement for query, preparing and keeping
// it on first use; nil when it is in use by open rows.
func (c *cachingConn) cached(ctx context.Context, query string) (*cachedStmt, error) {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		return cs, nil
	}
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= stmtCacheSize {
		c.evictOne()
	}
	cs := &cachedStmt{stmt: st}
	c.stmts[query] = cs
	return cs, nil
}

// evictOne closes one statement not in use (map order picks it at
// random, which is good enough for statements that vary).
func (c *cachingConn) evictOne() {
	for q, cs := range c.stmts {
		if !cs.busy {
			_ = cs.stmt.Close()
			delete(c.stmts, q)
			return
		}
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	return cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// PrepareContext hands out the kept statement for query until the
// caller closes it (a *sql.Stmt of a transaction is closed with it);
// meanwhile other uses of the text get statements of their own.
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	cs, err := c.cached(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	}
	cs.busy = true
	return &heldStmt{cs: cs}, nil
}

// heldStmt is a kept statement handed out by PrepareContext: closing it
// gives it back instead of finalizing it.
type heldStmt struct {
	cs     *cachedStmt
	closed bool
}

func (h *heldStmt) Close() error {
	if !h.closed {
		h.closed = true
		h.cs.busy = false
	}
	return nil
}

func (h *heldStmt) NumInput() int { return h.cs.stmt.NumInput() }

// Exec and Query complete driver.Stmt; database/sql calls the Context
// forms.
func (h *heldStmt) Exec(args []driver.Value) (driver.Result, error) {
	return h.ExecContext(context.Background(), named(args))
}

func (h *heldStmt) Query(args []driver.Value) (driver.Rows, error) {
	return h.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func (h *heldStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return h.cs.stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (h *heldStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return h.cs.stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Close finalizes the kept statements before the connection: SQLite
// refuses to close a connection with statements left.
func (c *cachingConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.Conn.Close())...)
}

// cachedRows are the rows of a kept statement: closing them resets the
// statement (the driver does) and makes it free for the next use.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}

// The column type methods are the driver's, for sql.Rows.ColumnTypes.

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
