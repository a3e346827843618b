package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tributary-dev/tributary/internal/store"
)

// BeatNode implements store.Nodes.
func (s *Store) BeatNode(ctx context.Context, n store.Node) error {
	load, err := json.Marshal(n.Load)
	if err != nil {
		return fmt.Errorf("node load: %w", err)
	}
	_, err = s.write.ExecContext(ctx, `INSERT INTO nodes (id, version, address, started_at, heartbeat_at, draining, load)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, address = excluded.address,
			heartbeat_at = excluded.heartbeat_at, draining = excluded.draining, load = excluded.load`,
		n.ID, n.Version, n.Address, micros(n.StartedAt), micros(n.HeartbeatAt), n.Draining, string(load))
	if err != nil {
		return fmt.Errorf("node heartbeat: %w", err)
	}
	return nil
}

// ListNodes implements store.Nodes. The leader is the node named by
// River's leader row (River deletes it when its leader resigns).
func (s *Store) ListNodes(ctx context.Context, aliveAfter time.Time) ([]store.Node, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT n.id, n.version, n.address, n.started_at, n.heartbeat_at, n.draining, n.load,
			EXISTS (SELECT 1 FROM river_leader l WHERE l.leader_id = n.id)
		FROM nodes n WHERE n.heartbeat_at >= ? ORDER BY n.started_at, n.id`, micros(aliveAfter))
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var out []store.Node
	for rows.Next() {
		var (
			n             store.Node
			started, beat int64
			load          string
		)
		if err := rows.Scan(&n.ID, &n.Version, &n.Address, &started, &beat, &n.Draining, &load, &n.Leader); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		if err := json.Unmarshal([]byte(load), &n.Load); err != nil {
			return nil, fmt.Errorf("node %s load: %w", n.ID, err)
		}
		n.StartedAt, n.HeartbeatAt = fromMicros(started), fromMicros(beat)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return out, nil
}

// DeleteNode implements store.Nodes.
func (s *Store) DeleteNode(ctx context.Context, id string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM nodes WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete node: %w", err)
	}
	return nil
}

// DeleteStaleNodes implements store.Nodes.
func (s *Store) DeleteStaleNodes(ctx context.Context, before time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM nodes WHERE heartbeat_at < ?`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("delete stale nodes: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete stale nodes: %w", err)
	}
	return int(n), nil
}
