package sqlite

import (
	"context"
	"time"

	"github.com/tributary-dev/tributary/internal/store"
)

// EnsurePartitions implements store.Storage: SQLite has no partitions.
func (s *Store) EnsurePartitions(context.Context, time.Time, time.Time) error { return nil }

// RecordPartitions implements store.Storage: SQLite has no partitions.
func (s *Store) RecordPartitions(context.Context) ([]store.Partition, error) { return nil, nil }
