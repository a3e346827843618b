package pubsub

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// maxNotify is the largest envelope NOTIFY takes: PostgreSQL refuses
// payloads of 8,000 bytes or more.
const maxNotify = 7999

// PostgresTransport carries envelopes over PostgreSQL LISTEN/NOTIFY: a
// dedicated connection listens, and a small pool sends. Batches larger
// than a notification travel as a Pointer that receivers read from the
// primary.
type PostgresTransport struct {
	url     string
	channel string
	pool    *pgxpool.Pool
}

var _ Transport = (*PostgresTransport)(nil)

// NewPostgresTransport connects a transport to the database at url (the
// primary). channel empty means Channel.
func NewPostgresTransport(ctx context.Context, url, channel string) (*PostgresTransport, error) {
	if channel == "" {
		channel = Channel
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pubsub: parse database url: %w", err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["application_name"] = "tributary-bus"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pubsub: connect to PostgreSQL: %w", err)
	}
	return &PostgresTransport{url: url, channel: channel, pool: pool}, nil
}

// Send implements Transport: the notifications go in one transaction, so
// they are delivered together and in order. It is one round trip (a pgx
// batch, which PostgreSQL runs as one implicit transaction) and does not
// wait for its commit to be flushed to disk: a notifying transaction gets
// a transaction id and would otherwise cost an fsync of its own, one per
// published batch, while notifications are delivered at commit whether
// or not it is durable yet (and die with the server either way).
func (t *PostgresTransport) Send(ctx context.Context, envs [][]byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	for _, e := range envs {
		b.Queue(`SELECT pg_notify($1, $2)`, t.channel, e) // text from the bytes, without a copy into a string
	}
	err := t.pool.SendBatch(ctx, b).Close()
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Listen implements Transport on a connection of its own, opened again
// whenever it fails.
func (t *PostgresTransport) Listen(ctx context.Context, deliver func([]byte), connected func(first bool)) {
	first := true
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := t.listen(ctx, deliver, func() {
			connected(first)
			first = false
			backoff = 50 * time.Millisecond
		})
		if ctx.Err() != nil {
			return
		}
		_ = err
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// listen runs one listening connection until it fails.
func (t *PostgresTransport) listen(ctx context.Context, deliver func([]byte), up func()) error {
	conn, err := pgx.Connect(ctx, t.url)
	if err != nil {
		return fmt.Errorf("listen: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{t.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	up()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("listen: wait: %w", err)
		}
		deliver([]byte(n.Payload))
	}
}

// MaxEnvelope implements Transport.
func (t *PostgresTransport) MaxEnvelope() int { return maxNotify }

// Close implements Transport.
func (t *PostgresTransport) Close() error {
	t.pool.Close()
	return nil
}
