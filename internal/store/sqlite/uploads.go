package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

const uploadColumns = `id, team_id, pipeline_id, filename, format, size, blob_key, status, rows_total, rows_done,
	accepted, rejected, chunks, error, created_at, updated_at, finished_at`

func scanUpload(r row) (core.Upload, error) {
	var (
		u                core.Upload
		total, finished  sql.NullInt64
		created, updated int64
	)
	err := r.Scan(&u.ID, &u.TeamID, &u.PipelineID, &u.Filename, &u.Format, &u.Size, &u.BlobKey, &u.Status, &total, &u.RowsDone,
		&u.Accepted, &u.Rejected, &u.Chunks, &u.Error, &created, &updated, &finished)
	if total.Valid {
		u.RowsTotal = &total.Int64
	}
	u.CreatedAt, u.UpdatedAt, u.FinishedAt = fromMicros(created), fromMicros(updated), fromNullMicros(finished)
	return u, mapErr(err)
}

// CreateUpload implements store.Uploads.
func (s *Store) CreateUpload(ctx context.Context, teamID, pipelineID uuid.UUID, nu store.NewUpload, jobs []river.InsertManyParams) (core.Upload, error) {
	var u core.Upload
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pipelines WHERE team_id = ? AND id = ?`, teamID, pipelineID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return core.ErrNotFound
		}
		now := micros(core.Now())
		var err error
		u, err = scanUpload(tx.QueryRowContext(ctx, `INSERT INTO uploads (id, team_id, pipeline_id, filename, format, size, blob_key, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING `+uploadColumns,
			nu.ID, teamID, pipelineID, nu.Filename, nu.Format, nu.Size, nu.BlobKey, now, now))
		if err != nil {
			return err
		}
		if len(jobs) > 0 {
			if _, err := s.inserter.InsertManyTx(ctx, tx, jobs); err != nil {
				return fmt.Errorf("enqueue upload jobs: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return core.Upload{}, fmt.Errorf("create upload: %w", mapErr(err))
	}
	return u, nil
}

// Upload implements store.Uploads.
func (s *Store) Upload(ctx context.Context, teamID, pipelineID, id uuid.UUID) (core.Upload, error) {
	return scanUpload(s.read.QueryRowContext(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE team_id = ? AND pipeline_id = ? AND id = ?`,
		teamID, pipelineID, id))
}

// Uploads implements store.Uploads.
func (s *Store) Uploads(ctx context.Context, teamID, pipelineID uuid.UUID, q store.UploadQuery) ([]core.Upload, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE team_id = ? AND pipeline_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, teamID, pipelineID, store.ClampLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	defer rows.Close()
	var out []core.Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("list uploads: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// StartUpload implements store.Uploads.
func (s *Store) StartUpload(ctx context.Context, teamID, id uuid.UUID, rowsTotal int64) error {
	_, err := s.write.ExecContext(ctx, `UPDATE uploads SET rows_total = ?, status = 'processing', updated_at = ?
		WHERE team_id = ? AND id = ? AND status IN ('pending', 'processing')`, rowsTotal, micros(core.Now()), teamID, id)
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	return nil
}

// advanceUpload applies a batch's upload chunk inside the batch's
// transaction; see store.UploadChunk.
func advanceUpload(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	c := b.Upload
	status := core.UploadProcessing
	switch {
	case c.Error != "":
		status = core.UploadFailed
	case c.Final:
		status = core.UploadDone
	}
	now := micros(core.Now())
	var finished any
	if status != core.UploadProcessing {
		finished = now
	}
	res, err := tx.ExecContext(ctx, `UPDATE uploads SET chunks = ?, rows_done = rows_done + ?, accepted = accepted + ?, rejected = rejected + ?,
			status = ?, error = ?, updated_at = ?, finished_at = ?
		WHERE team_id = ? AND pipeline_id = ? AND id = ? AND chunks = ? AND status IN ('pending', 'processing')`,
		c.Seq, c.Rows, len(b.Records), len(b.Rejected), status, c.Error, now, finished,
		b.TeamID, b.PipelineID, c.UploadID, c.Seq-1)
	if err != nil {
		return fmt.Errorf("advance upload: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("upload %s chunk %d: %w", c.UploadID, c.Seq, store.ErrChunkCommitted)
	}
	return nil
}
