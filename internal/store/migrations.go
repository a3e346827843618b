package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered SQL file of a backend's schema.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads files named NNNN_name.sql from dir in fsys, sorted by
// version. Versions must be unique; gaps are allowed.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must look like 0001_name.sql", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: rest, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Latest returns the highest version in ms, or 0.
func Latest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// ErrSchemaNewer means the database has migrations this binary does not
// know: it was migrated by a newer version, which this one must not run
// against.
var ErrSchemaNewer = errors.New("the database schema is newer than this binary")

// ErrMigrationChanged means a migration the database has applied differs
// from the binary's file of the same version.
var ErrMigrationChanged = errors.New("an applied migration differs from this binary's")

// Checksum is the checksum recorded for a migration: the hex SHA-256 of its
// SQL.
func (m Migration) Checksum() string {
	sum := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(sum[:])
}

// PlanMigrations returns the migrations of ms that are not in applied (the
// versions recorded in the database, with their checksums, "" where none
// was recorded), in order: every missing version, not only those above the
// highest applied, so that a migration added below a released one is
// applied too. A recorded version that ms does not have is ErrSchemaNewer;
// a recorded checksum that differs is ErrMigrationChanged.
func PlanMigrations(applied map[int]string, ms []Migration) ([]Migration, error) {
	known := make(map[int]Migration, len(ms))
	for _, m := range ms {
		known[m.Version] = m
	}
	done := make(map[int]bool, len(applied))
	for v, sum := range applied {
		m, ok := known[v]
		if !ok {
			return nil, fmt.Errorf("%w: it has migration %04d, this binary knows up to %04d; run a newer tributary", ErrSchemaNewer, v, Latest(ms))
		}
		if sum != "" && sum != m.Checksum() {
			return nil, fmt.Errorf("%w: %04d_%s was changed after it was applied; restore it and add a new migration instead", ErrMigrationChanged, v, m.Name)
		}
		done[v] = true
	}
	var pending []Migration
	for _, m := range ms {
		if !done[m.Version] {
			pending = append(pending, m)
		}
	}
	return pending, nil
}
