package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.DatabaseURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestTimescaleDetection checks the negative path of the TimescaleDB check
// (the test cluster has no TimescaleDB): it names the reason, and records
// use native partitions.
func TestTimescaleDetection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	why, err := st.TimescaleUnavailable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if why == "" {
		t.Skip("this cluster has TimescaleDB preloaded")
	}
	if !strings.Contains(why, "timescaledb") {
		t.Errorf("reason %q", why)
	}
}
