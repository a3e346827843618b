package engine

import (
	"context"
	"fmt"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/store"
)

// RunUploadChunk is RunBatch for one chunk of a file upload: it processes
// inputs and commits them as a run of their own (trigger upload), and in
// the same transaction advances the upload by chunk (store.UploadChunk),
// so that an upload's progress never runs ahead of or behind its records.
// A chunk that is not the upload's next one — committed before by an
// earlier attempt — fails with store.ErrChunkCommitted and keeps nothing.
//
// A chunk with an Error is a failed run: its run row carries the error
// (naming the row and column, or the line and offset, of a broken file)
// and the upload becomes failed; it usually has no inputs.
func (e *Engine) RunUploadChunk(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, chunk store.UploadChunk) (Result, error) {
	res, err := e.runDirect(ctx, p, c, inputs, core.TriggerUpload, func(b *store.Batch) {
		b.Run.Error = chunk.Error
		b.Upload = &chunk
	})
	if err != nil {
		return Result{}, fmt.Errorf("engine: write upload chunk %d of pipeline %s: %w", chunk.Seq, p.ID, err)
	}
	return res, nil
}
