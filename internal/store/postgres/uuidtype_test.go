package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store/postgres"
)

// TestUUIDCodec checks the store's uuid codec against what pgx did
// without it: a uuid.UUID argument and scan of uuid, uuid[], NULL, and
// the same value given to a text parameter, which keeps pgx's plan (its
// text).
func TestUUIDCodec(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pool := st.Pool()
	id := uuid.MustParse("0196a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")

	var text string
	var back uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT $1::uuid::text, $1::uuid`, id).Scan(&text, &back); err != nil {
		t.Fatal(err)
	}
	if text != id.String() || back != id {
		t.Errorf("uuid round trip: PostgreSQL read %q and gave back %s, want %s", text, back, id)
	}

	var ids []uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT $1::uuid[]`, []uuid.UUID{id, uuid.Nil}).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != id || ids[1] != uuid.Nil {
		t.Errorf("uuid[] round trip: %v", ids)
	}

	back = id
	if err := pool.QueryRow(ctx, `SELECT NULL::uuid`).Scan(&back); err != nil {
		t.Fatalf("scan NULL into uuid.UUID: %v", err)
	}
	if back != uuid.Nil {
		t.Errorf("NULL scanned as %s, want the zero UUID, as uuid.UUID.Scan gives", back)
	}

	var asText string
	if err := pool.QueryRow(ctx, `SELECT $1::text`, id).Scan(&asText); err != nil {
		t.Fatal(err)
	}
	if asText != id.String() {
		t.Errorf("text parameter: %q, want %q", asText, id.String())
	}

	var bad uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT 'not a uuid'::text`).Scan(&bad); err == nil {
		t.Error("scanning text that is no UUID into uuid.UUID succeeded")
	}
}
