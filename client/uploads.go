package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UploadOptions describe a file to upload.
type UploadOptions struct {
	// Filename is the name the server records; its extension (.csv, .json,
	// .ndjson, .jsonl) tells the format when Format is empty.
	Filename string
	// Format is csv, json or ndjson; empty lets the server detect it.
	Format string
	// Size is the file's length in bytes, or -1 when unknown. A known size
	// is sent as Content-Length and makes progress complete.
	Size int64
	// Progress, when set, is called as the bytes are sent (Phase
	// "sending"), at most every 100 ms and once at the end.
	Progress func(UploadProgress)
}

// UploadProgress reports an upload's progress.
type UploadProgress struct {
	// Phase is "sending" while the file streams to the server, then
	// "processing" (WaitUpload) while the server commits its rows.
	Phase string
	// Sent and Total are bytes sent and the file's size (-1 unknown).
	Sent, Total int64
	// RowsDone and RowsTotal are the rows committed and the rows of the
	// file (-1 until the server counted them) while processing.
	RowsDone, RowsTotal int64
}

// Upload streams a file into a pipeline (operation create-upload) and
// returns the upload, which the server then processes in chunks: follow
// it with WaitUpload. The file is never held in memory. When the
// connection breaks the upload fails as a whole; the server keeps nothing
// of it, and calling Upload again starts over.
func (c *Client) Upload(ctx context.Context, pipelineID string, file io.Reader, o UploadOptions) (*Upload, error) {
	v := url.Values{}
	if o.Format != "" {
		v.Set("format", o.Format)
	}
	if o.Filename != "" {
		v.Set("filename", filepath.Base(o.Filename))
	}
	size := o.Size
	if size == 0 {
		size = -1 // an unset size is unknown; an empty file is sent with Size -1 as well
	}
	pr := &progressReader{r: file, total: size, fn: o.Progress}
	var out Upload
	err := c.do(ctx, request{method: http.MethodPost, path: pipelinePath(pipelineID, "/uploads"), query: v,
		raw: pr, size: size, ctype: uploadContentType(o.Format, o.Filename)}, &out)
	pr.report(true)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// uploadContentType picks the Content-Type of a file.
func uploadContentType(format, name string) string {
	if format == "" {
		switch strings.ToLower(filepath.Ext(name)) {
		case ".csv":
			format = "csv"
		case ".ndjson", ".jsonl":
			format = "ndjson"
		case ".json":
			format = "json"
		}
	}
	switch format {
	case "csv":
		return "text/csv"
	case "ndjson":
		return "application/x-ndjson"
	case "json":
		return "application/json"
	}
	return "application/octet-stream"
}

// progressReader counts the bytes read through it.
type progressReader struct {
	r     io.Reader
	total int64
	fn    func(UploadProgress)

	mu   sync.Mutex
	sent int64
	last time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	p.sent += int64(n)
	p.mu.Unlock()
	p.report(false)
	return n, err
}

func (p *progressReader) report(final bool) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	if !final && time.Since(p.last) < 100*time.Millisecond {
		p.mu.Unlock()
		return
	}
	p.last = time.Now()
	pr := UploadProgress{Phase: "sending", Sent: p.sent, Total: p.total, RowsTotal: -1}
	p.mu.Unlock()
	p.fn(pr)
}

// WaitUpload follows an upload's processing, calling progress (when set)
// with every change, until it is done or failed, and returns it. It asks
// the server every poll interval (250 ms when zero).
func (c *Client) WaitUpload(ctx context.Context, pipelineID, uploadID string, poll time.Duration, progress func(UploadProgress)) (*Upload, error) {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var lastDone int64 = -1
	for {
		u, err := c.GetUpload(ctx, pipelineID, uploadID)
		if err != nil {
			return nil, err
		}
		if progress != nil && (u.RowsDone != lastDone || u.Finished()) {
			lastDone = u.RowsDone
			total := int64(-1)
			if u.RowsTotal != nil {
				total = *u.RowsTotal
			}
			progress(UploadProgress{Phase: "processing", Sent: u.Size, Total: u.Size, RowsDone: u.RowsDone, RowsTotal: total})
		}
		if u.Finished() {
			return u, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for upload %s: %w", uploadID, ctx.Err())
		case <-t.C:
		}
	}
}

// ListUploads lists a pipeline's uploads, newest first (operation
// list-uploads).
func (c *Client) ListUploads(ctx context.Context, pipelineID string, limit int) ([]Upload, error) {
	v := url.Values{}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Uploads []Upload `json:"uploads"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(pipelineID, "/uploads"), query: v}, &out)
	return out.Uploads, err
}

// GetUpload returns an upload and its progress (operation get-upload).
func (c *Client) GetUpload(ctx context.Context, pipelineID, uploadID string) (*Upload, error) {
	var out Upload
	if err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(pipelineID, "/uploads/"+pathEscape(uploadID))}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UploadFile downloads the file of an upload as it was sent (operation
// get-upload-file). The caller closes it.
func (c *Client) UploadFile(ctx context.Context, pipelineID, uploadID string) (io.ReadCloser, error) {
	res, err := c.send(ctx, request{method: http.MethodGet, path: pipelinePath(pipelineID, "/uploads/"+pathEscape(uploadID)+"/file")})
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}
