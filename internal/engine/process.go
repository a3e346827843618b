package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/lowpriority"
	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/rollup"
)

// Mapped is one accepted record: mapped, validated and encoded once.
type Mapped struct {
	// TS is the record's event time, in UTC.
	TS time.Time
	// Data is the mapped record as compact JSON.
	Data json.RawMessage
	// Numbers are its numeric top-level fields, kept from before encoding
	// for the batch's rollups (store.Batch.Rollups).
	Numbers []rollup.Value
}

// Process maps, validates and encodes the records of inputs, in the
// caller's goroutine (request handlers call it in parallel; it touches no
// shared state but the compiled spec, which is read-only).
//
// Each input is a decoded JSON value as the source delivered it — a
// webhook body or one NDJSON line, decoded preferably with
// json.Decoder.UseNumber — and may hold many records: the mapping's
// records path finds them, or, without one, an object is one record and
// an array is a list of records. Without a mapping a record must be an
// object and its event time is its "ts" (RFC 3339) or else arrival.
//
// Every record ends up in exactly one of the two results, in input order.
// A record that fails mapping or validation, and an input in which the
// mapping finds no records, becomes a rejected record with its raw input
// as JSON, arrival as ReceivedAt and a readable reason ("mapping: field
// temp: expected number, got string \"x\"", "validation: temp: must be <=
// 60 but found 75"). So does a record that some backend could not store:
// one nested deeper than MaxDepth, holding U+0000 or a number out of range;
// its raw input is stored with those values replaced. PipelineID, RunID
// and Version are set when the batch is written.
func (e *Engine) Process(c *pipeline.Compiled, inputs []any, arrival time.Time) (accepted []Mapped, rejected []core.Rejected) {
	accepted = make([]Mapped, 0, len(inputs))
	return process(c, inputs, arrival.UTC(), newOutputs(len(inputs)), accepted, nil, nil)
}

// Slices of mapping work, in the operations of mapping.MaxOps (about
// 30–70 ns each on a 2026 server core; mapping.Pacer). A team holding a
// CPU slot gives it up to another team that waits after every
// sliceWork operations, so that a team waits for a slot about
// 0.1–0.3 ms, not for a costly record (tens of ms) or request (seconds)
// of another team's.
const (
	sliceWork = 4096
	// heavyWork is how much of one request's work is done at normal
	// priority: about 1 ms, more than a request of 100 simple records.
	heavyWork = 4 * sliceWork
	// inputWork is what mapping one input counts besides its
	// expressions' loops: paths, types, validation, encoding (a few
	// microseconds for ten fields).
	inputWork = 64
)

// ProcessFor is Process under the team's fair share of CPU: it maps
// inputs in a CPU slot of the engine (Config.CPUSlots), taken in the
// team's turn, and passes the slot to the next team that waits after
// every slice of work, even in the middle of a costly expression, so that
// one team's costly mappings cannot starve another team's. Between slices
// it also lets the goroutines that hold no slot run (commits, the HTTP
// server, the garbage collector). A request's work beyond its first
// millisecond or so runs on a thread of the lowest priority
// (internal/lowpriority), which the kernel runs after everything else
// that is ready, such as the database backend committing another team's
// batch. It fails only with ctx's error, when
// ctx ends while it waits for a slot or between two inputs.
func (e *Engine) ProcessFor(ctx context.Context, teamID uuid.UUID, c *pipeline.Compiled, inputs []any, arrival time.Time) (accepted []Mapped, rejected []core.Rejected, err error) {
	if e.share == nil {
		accepted, rejected = e.Process(c, inputs, arrival)
		return accepted, rejected, nil
	}
	arrival = arrival.UTC()
	accepted = make([]Mapped, 0, len(inputs))
	p := e.Turn(teamID)
	if err := p.Take(ctx); err != nil {
		return nil, nil, err
	}
	defer p.Leave()
	// The first heavyWork of a request is mapped in its goroutine; the
	// rest of a costly request on a low-priority thread, so that the
	// kernel runs the other teams' requests and commits first.
	i := 0
	out := newOutputs(len(inputs))
	mapUntil := func(light bool) {
		for ; i < len(inputs) && (!light || p.total < heavyWork); i++ {
			if err = ctx.Err(); err != nil {
				return
			}
			accepted, rejected = process(c, inputs[i:i+1], arrival, out, accepted, rejected, p)
			p.Work(inputWork)
		}
	}
	mapUntil(true)
	if i < len(inputs) && err == nil {
		lowpriority.Run(func() { mapUntil(false) })
	}
	if err != nil {
		return nil, nil, fmt.Errorf("engine: map records: %w", err)
	}
	return accepted, rejected, nil
}

// outputs holds the memory of a request's accepted records (their JSON
// and their numbers), shared by them (see chunks).
type outputs struct {
	data chunks[byte]
	nums chunks[rollup.Value]
	// inputsLeft is how many of the request's inputs are still to map.
	inputsLeft int
}

func newOutputs(inputs int) *outputs {
	return &outputs{data: chunks[byte]{max: 64 << 10}, nums: chunks[rollup.Value]{max: 2048}, inputsLeft: inputs}
}

// process maps inputs, appending to accepted and rejected, and tells p
// (when not nil) of the work of the expressions as they run.
func process(c *pipeline.Compiled, inputs []any, arrival time.Time, out *outputs, accepted []Mapped, rejected []core.Rejected, p *Turn) ([]Mapped, []core.Rejected) {
	var pace mapping.Pacer
	if p != nil {
		pace = p
	}
	reject := func(raw any, reason string) {
		rejected = append(rejected, core.Rejected{ReceivedAt: arrival, Raw: encodeRaw(raw), Reason: reason})
	}
	for _, in := range inputs {
		out.inputsLeft--
		results, err := c.Mapping.ApplyPaced(in, arrival, pace)
		if err != nil {
			reject(in, "mapping: "+err.Error())
			continue
		}
		for i := range results {
			r := &results[i]
			if r.Err != nil {
				reject(r.Raw, "mapping: "+r.Err.Error())
				continue
			}
			if c.Schema != nil {
				if err := c.Schema.Validate(r.Fields.Map()); err != nil {
					reject(r.Raw, "validation: "+err.Error())
					continue
				}
			}
			// The records still to come: this input's and one per input.
			left := len(results) - i + out.inputsLeft
			enc := encoder{}
			data, err := enc.encodeRecord(r.Fields, func(b []byte) []byte { return out.data.copy(b, left) })
			switch {
			case errors.Is(err, errTooDeep), errors.Is(err, errNumberRange):
				reject(r.Raw, "record: "+err.Error())
				continue
			case err != nil:
				reject(r.Raw, "record: cannot be encoded: "+err.Error())
				continue
			case enc.sawNUL:
				// PostgreSQL refuses it; refusing it on every backend keeps
				// them alike and keeps one record from failing a batch.
				reject(r.Raw, "record: a string holds the character U+0000 (NUL), which cannot be stored")
				continue
			}
			// At most one number per field.
			nums := out.nums.keep(rollup.AppendNumbers(out.nums.room(len(r.Fields), left), r.Fields.All()))
			accepted = append(accepted, Mapped{TS: r.TS, Data: data, Numbers: nums})
		}
	}
	return accepted, rejected
}

// encodeRaw encodes a rejected record's input so that every backend can
// store it: U+0000 replaced, numbers out of range kept as strings and
// values nested deeper than MaxDepth replaced by a note. Inputs come from a JSON decoder, so this cannot
// fail in practice; if it does, the input is kept as a JSON string rather
// than losing the record.
func encodeRaw(v any) json.RawMessage {
	enc := encoder{replaceNUL: true, lenient: true}
	if b, err := enc.encode(v); err == nil {
		return b
	}
	b, _ := json.Marshal(fmt.Sprintf("%v", v))
	return b
}
