package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ListPipelines lists the team's pipelines by name (operation
// list-pipelines).
func (c *Client) ListPipelines(ctx context.Context) ([]Pipeline, error) {
	var out struct {
		Pipelines []Pipeline `json:"pipelines"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/pipelines"}, &out)
	return out.Pipelines, err
}

// CreatePipeline creates a pipeline from its spec, a JSON document
// (operation create-pipeline).
func (c *Client) CreatePipeline(ctx context.Context, spec json.RawMessage) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/pipelines", body: spec}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Pipeline returns a pipeline by id (operation get-pipeline).
func (c *Client) Pipeline(ctx context.Context, id string) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(id, "")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdatePipeline replaces a pipeline's spec (operation update-pipeline).
// A version above 0 makes the server refuse the update with 409 when the
// pipeline is no longer at that version.
func (c *Client) UpdatePipeline(ctx context.Context, id string, spec json.RawMessage, version int) (*Pipeline, error) {
	var out Pipeline
	r := request{method: http.MethodPut, path: pipelinePath(id, ""), body: spec}
	if version > 0 {
		r.header = http.Header{"If-Match": {strconv.Quote(strconv.Itoa(version))}}
	}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeletePipeline deletes a pipeline with its records (operation
// delete-pipeline).
func (c *Client) DeletePipeline(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: pipelinePath(id, "")}, nil)
}

// PausePipeline pauses a pipeline (operation pause-pipeline).
func (c *Client) PausePipeline(ctx context.Context, id string) (*Pipeline, error) {
	return c.pipelineVerb(ctx, id, "/pause")
}

// ResumePipeline resumes a paused pipeline (operation resume-pipeline).
func (c *Client) ResumePipeline(ctx context.Context, id string) (*Pipeline, error) {
	return c.pipelineVerb(ctx, id, "/resume")
}

// RotatePipelineToken gives a webhook pipeline a new ingest URL
// (operation rotate-pipeline-token).
func (c *Client) RotatePipelineToken(ctx context.Context, id string) (*Pipeline, error) {
	return c.pipelineVerb(ctx, id, "/rotate-token")
}

func (c *Client) pipelineVerb(ctx context.Context, id, verb string) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodPost, path: pipelinePath(id, verb)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RunPipeline polls a polling pipeline now (operation run-pipeline).
func (c *Client) RunPipeline(ctx context.Context, id string) (*RunNow, error) {
	var out RunNow
	if err := c.do(ctx, request{method: http.MethodPost, path: pipelinePath(id, "/run")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Schedule returns a polling pipeline's schedule (operation
// get-pipeline-schedule).
func (c *Client) Schedule(ctx context.Context, id string) (*Schedule, error) {
	var out Schedule
	if err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(id, "/schedule")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PreviewPipeline tries a spec without saving it (operation
// preview-pipeline).
func (c *Client) PreviewPipeline(ctx context.Context, p Preview) (*PreviewResult, error) {
	var out PreviewResult
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/pipelines/preview", body: p}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Records returns a page of a pipeline's records, newest first
// (operation list-records).
func (c *Client) Records(ctx context.Context, id string, q RecordQuery) (*RecordPage, error) {
	v := url.Values{}
	setTime(v, "from", q.From)
	setTime(v, "to", q.To)
	setPage(v, q.Limit, q.Cursor)
	var out RecordPage
	if err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(id, "/records"), query: v}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RejectedRecords returns a page of a pipeline's rejected records
// (operation list-rejected).
func (c *Client) RejectedRecords(ctx context.Context, id string, q PageQuery) (*RejectedPage, error) {
	v := url.Values{}
	setPage(v, q.Limit, q.Cursor)
	var out RejectedPage
	if err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(id, "/rejected"), query: v}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Runs returns a page of a pipeline's runs, newest first (operation
// list-runs).
func (c *Client) Runs(ctx context.Context, id string, q PageQuery) (*RunPage, error) {
	v := url.Values{}
	setPage(v, q.Limit, q.Cursor)
	var out RunPage
	if err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(id, "/runs"), query: v}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Series returns bucketed aggregates of a numeric field (operation
// pipeline-series).
func (c *Client) Series(ctx context.Context, id string, q SeriesQuery) (*Series, error) {
	v := url.Values{}
	v.Set("field", q.Field)
	setTime(v, "from", q.From)
	setTime(v, "to", q.To)
	for k, s := range map[string]string{"bucket": q.Bucket, "agg": q.Agg, "source": q.Source} {
		if s != "" {
			v.Set(k, s)
		}
	}
	var out Series
	if err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(id, "/series"), query: v}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Storage returns what a pipeline's records take (operation
// pipeline-storage).
func (c *Client) Storage(ctx context.Context, id string) (*Storage, error) {
	var out Storage
	if err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(id, "/storage")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// pipelinePath is the path of a pipeline's resource.
func pipelinePath(id, rest string) string {
	return "/api/v1/pipelines/" + pathEscape(id) + rest
}

func setTime(v url.Values, key string, t time.Time) {
	if !t.IsZero() {
		v.Set(key, t.UTC().Format(time.RFC3339Nano))
	}
}

func setPage(v url.Values, limit int, cursor string) {
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
}
