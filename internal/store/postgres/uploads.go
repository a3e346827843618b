package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

const uploadColumns = `id, team_id, pipeline_id, filename, format, size, blob_key, status, rows_total, rows_done,
	accepted, rejected, chunks, error, created_at, updated_at, finished_at`

func scanUpload(row pgx.Row) (core.Upload, error) {
	var u core.Upload
	err := row.Scan(&u.ID, &u.TeamID, &u.PipelineID, &u.Filename, &u.Format, &u.Size, &u.BlobKey, &u.Status, &u.RowsTotal, &u.RowsDone,
		&u.Accepted, &u.Rejected, &u.Chunks, &u.Error, &u.CreatedAt, &u.UpdatedAt, &u.FinishedAt)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	utcPtr(u.FinishedAt)
	return u, mapErr(err)
}

// CreateUpload implements store.Uploads.
func (s *Store) CreateUpload(ctx context.Context, teamID, pipelineID uuid.UUID, nu store.NewUpload, jobs []river.InsertManyParams) (core.Upload, error) {
	var u core.Upload
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pipelines WHERE team_id = $1 AND id = $2)`, teamID, pipelineID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return core.ErrNotFound
		}
		now := core.Now()
		var err error
		u, err = scanUpload(tx.QueryRow(ctx, `INSERT INTO uploads (id, team_id, pipeline_id, filename, format, size, blob_key, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8) RETURNING `+uploadColumns,
			nu.ID, teamID, pipelineID, nu.Filename, nu.Format, nu.Size, nu.BlobKey, now))
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
	return scanUpload(s.pool.QueryRow(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE team_id = $1 AND pipeline_id = $2 AND id = $3`,
		teamID, pipelineID, id))
}

// Uploads implements store.Uploads.
func (s *Store) Uploads(ctx context.Context, teamID, pipelineID uuid.UUID, q store.UploadQuery) ([]core.Upload, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+uploadColumns+` FROM uploads WHERE team_id = $1 AND pipeline_id = $2
		ORDER BY created_at DESC, id DESC LIMIT $3`, teamID, pipelineID, store.ClampLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Upload, error) { return scanUpload(r) })
}

// StartUpload implements store.Uploads.
func (s *Store) StartUpload(ctx context.Context, teamID, id uuid.UUID, rowsTotal int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE uploads SET rows_total = $3, status = 'processing', updated_at = $4
		WHERE team_id = $1 AND id = $2 AND status IN ('pending', 'processing')`, teamID, id, rowsTotal, core.Now())
	if err != nil {
		return fmt.Errorf("start upload: %w", err)
	}
	return nil
}

// advanceUpload applies a batch's upload chunk inside the batch's
// transaction; see store.UploadChunk.
func advanceUpload(ctx context.Context, tx pgx.Tx, b *store.Batch) error {
	c := b.Upload
	status := core.UploadProcessing
	switch {
	case c.Error != "":
		status = core.UploadFailed
	case c.Final:
		status = core.UploadDone
	}
	now := core.Now()
	var finished *time.Time
	if status != core.UploadProcessing {
		finished = &now
	}
	tag, err := tx.Exec(ctx, `UPDATE uploads SET chunks = $4, rows_done = rows_done + $5, accepted = accepted + $6, rejected = rejected + $7,
			status = $8, error = $9, updated_at = $10, finished_at = $11
		WHERE team_id = $1 AND pipeline_id = $2 AND id = $3 AND chunks = $4 - 1 AND status IN ('pending', 'processing')`,
		b.TeamID, b.PipelineID, c.UploadID, c.Seq, c.Rows, len(b.Records), len(b.Rejected), status, c.Error, now, finished)
	if err != nil {
		return fmt.Errorf("advance upload: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("upload %s chunk %d: %w", c.UploadID, c.Seq, store.ErrChunkCommitted)
	}
	return nil
}
