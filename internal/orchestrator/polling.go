package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/poll"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
)

// Polling: run a polling pipeline now, see its schedule, and preview any
// spec (source, mapping and validation once, nothing stored).

// RunNow moves a polling pipeline's next poll to now and returns when it
// is due (editor).
func (s *Service) RunNow(ctx context.Context, who Caller, id uuid.UUID) (core.Pipeline, time.Time, error) {
	p, role, err := s.load(ctx, who, id, auth.Editor)
	if err != nil {
		return p, time.Time{}, err
	}
	switch {
	case p.Kind != core.KindPolling:
		return p, time.Time{}, newError(ErrConflict, "Only polling pipelines run on a schedule; this one is %s.", p.Kind)
	case p.Status == core.StatusPaused:
		return p, time.Time{}, newError(ErrConflict, "The pipeline is paused; resume it first.")
	case s.pl == nil:
		return p, time.Time{}, errNoPolling
	}
	due, err := s.pl.Schedule(ctx, p, core.Now(), true)
	if errors.Is(err, core.ErrNotFound) {
		return p, due, errNoPipeline
	}
	if err != nil {
		return p, due, fmt.Errorf("schedule poll of %s: %w", id, err)
	}
	return view(p, role), due, nil
}

// Schedule is a polling pipeline's schedule.
type Schedule struct {
	Pipeline core.Pipeline
	// Interval is the spec's interval ("" when the spec does not compile).
	Interval string
	// NextDue is when the next poll is due; nil while the pipeline is
	// paused or before its first poll is scheduled.
	NextDue *time.Time
	// Running says whether a poll runs now.
	Running bool
}

// Schedule returns when a polling pipeline polls next (viewer).
func (s *Service) Schedule(ctx context.Context, who Caller, id uuid.UUID) (Schedule, error) {
	p, role, err := s.load(ctx, who, id, auth.Viewer)
	if err != nil {
		return Schedule{}, err
	}
	if p.Kind != core.KindPolling {
		return Schedule{}, newError(ErrConflict, "Only polling pipelines run on a schedule; this one is %s.", p.Kind)
	}
	var ps store.PollSchedule
	found := false
	if s.pl != nil {
		ps, err = s.pl.NextPoll(ctx, p.TeamID, p.ID)
		switch {
		case err == nil:
			found = true
		case !errors.Is(err, core.ErrNotFound):
			return Schedule{}, fmt.Errorf("schedule of pipeline %s: %w", id, err)
		}
	}
	return s.schedule(p, role, ps, found), nil
}

// schedule is the schedule of the polling pipeline p as a caller of role
// sees it, with its poll schedule ps when found.
func (s *Service) schedule(p core.Pipeline, role auth.Role, ps store.PollSchedule, found bool) Schedule {
	out := Schedule{Pipeline: view(p, role)}
	if c, err := s.eng.Compiled(p); err == nil {
		// As the spec writes it ("1h", not "1h0m0s"); the default when
		// the spec has none.
		out.Interval = c.Spec.Source.Interval
		if out.Interval == "" {
			out.Interval = c.Interval.String()
		}
	}
	if found {
		if p.Status != core.StatusPaused {
			out.NextDue = &ps.NextDue
		}
		out.Running = ps.LeaseUntil != nil && ps.LeaseUntil.After(core.Now())
	}
	return out
}

// PreviewRequest asks for a preview of a spec.
type PreviewRequest struct {
	// Spec is a whole pipeline spec, as for create.
	Spec json.RawMessage
	// Input replaces fetching: records as a webhook would receive them.
	// Required for webhook and p2p pipelines.
	Input json.RawMessage
	// State is the incremental state to poll from; nil means the initial
	// values of source.state.
	State map[string]any
	// Limit bounds the records shown (default 20).
	Limit int
	// MaxPages bounds the pages fetched (default 1).
	MaxPages int
}

// Preview is what a preview found. Credentials of the fetch are redacted
// from every part of it.
type Preview struct {
	Error    string // why fetching failed, as a run would record it
	Fetched  int
	Accepted int
	Rejected int
	Requests int
	More     bool
	Raw      []json.RawMessage
	Records  []PreviewRecord
	Errors   []PreviewError
	State    json.RawMessage
	Sample   string
}

// PreviewRecord is one mapped record of a preview.
type PreviewRecord struct {
	Index int // the input record it came from
	TS    time.Time
	Data  json.RawMessage
}

// PreviewError is one record of a preview that failed.
type PreviewError struct {
	Index  int
	Reason string
	Raw    json.RawMessage
}

const maxSampleBytes = 4 << 10

// Preview runs a spec's source once (or maps the given input), then its
// mapping and validation, and stores nothing (editor). Problems of the
// spec have paths under "spec".
func (s *Service) Preview(ctx context.Context, who Caller, in PreviewRequest) (Preview, error) {
	team, _, err := s.access(who, auth.Editor)
	if err != nil {
		return Preview{}, err
	}
	if len(bytes.TrimSpace(in.Spec)) == 0 {
		return Preview{}, invalid("The preview needs a spec.", pipeline.Problem{Path: "spec", Message: "is required"})
	}
	c, err := s.compiler.Parse(in.Spec)
	if se, ok := errors.AsType[*pipeline.SpecError](err); ok {
		return Preview{}, specInvalid(se, "spec")
	}
	if err != nil {
		return Preview{}, fmt.Errorf("parse spec: %w", err)
	}
	if err := s.checkSecrets(ctx, team, c); err != nil {
		return Preview{}, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = 20
	}
	out := Preview{Raw: []json.RawMessage{}, Records: []PreviewRecord{}, Errors: []PreviewError{}}
	var inputs []any
	var res *source.Result
	switch {
	case len(bytes.TrimSpace(in.Input)) > 0:
		dec := json.NewDecoder(bytes.NewReader(in.Input))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return Preview{}, invalid("The input is not JSON.", pipeline.Problem{Path: "input", Message: err.Error()})
		}
		inputs = []any{v}
		if arr, ok := v.([]any); ok && c.Mapping.SplitsInput() {
			// Each element is a record: map them one by one, so that
			// fetched counts records and each result has its index.
			inputs = arr
		}
	case c.Source != nil:
		if s.pl == nil {
			return Preview{}, errNoPolling
		}
		res, err = s.pl.Preview(ctx, team, c, source.Values(in.State), poll.PreviewLimits{MaxPages: in.MaxPages, MaxRecords: 1000})
		if se, ok := errors.AsType[*source.Error](err); ok {
			out.Error = se.Msg
			return out, nil
		}
		if err != nil {
			return Preview{}, fmt.Errorf("preview source: %w", err)
		}
		inputs = res.Records
		out.Requests, out.More = res.Requests, res.More
		if st, err := json.Marshal(res.State); err == nil {
			out.State = json.RawMessage(res.Redact(string(st)))
		}
		out.Sample = res.Redact(string(res.Sample[:min(len(res.Sample), maxSampleBytes)]))
	default:
		return Preview{}, invalid(fmt.Sprintf("A %s pipeline has no source to fetch from; send records in input.", c.Spec.Kind),
			pipeline.Problem{Path: "input", Message: "is required for a " + string(c.Spec.Kind) + " pipeline"})
	}
	out.Fetched = len(inputs)
	now := time.Now()
	for i, input := range inputs {
		accepted, rejected := s.eng.Process(c, []any{input}, now)
		out.Accepted += len(accepted)
		out.Rejected += len(rejected)
		if len(out.Raw) < limit {
			if raw, err := json.Marshal(input); err == nil {
				out.Raw = append(out.Raw, redactRaw(res, raw))
			}
		}
		for _, m := range accepted {
			if len(out.Records) < limit {
				out.Records = append(out.Records, PreviewRecord{Index: i, TS: m.TS, Data: redactRaw(res, m.Data)})
			}
		}
		for _, rej := range rejected {
			if len(out.Errors) < limit {
				out.Errors = append(out.Errors, PreviewError{Index: i, Reason: res.Redact(rej.Reason), Raw: redactRaw(res, rej.Raw)})
			}
		}
	}
	return out, nil
}

// redactRaw removes the credentials of a fetch from a JSON value; the
// replacement keeps it valid JSON (it only replaces text inside strings,
// where credentials appear).
func redactRaw(res *source.Result, raw json.RawMessage) json.RawMessage {
	if res == nil {
		return raw
	}
	out := json.RawMessage(res.Redact(string(raw)))
	if !json.Valid(out) {
		return json.RawMessage(`"[redacted]"`)
	}
	return out
}
