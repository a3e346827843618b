package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
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
	arrival = arrival.UTC()
	accepted = make([]Mapped, 0, len(inputs))
	reject := func(raw any, reason string) {
		rejected = append(rejected, core.Rejected{ReceivedAt: arrival, Raw: encodeRaw(raw), Reason: reason})
	}
	for _, in := range inputs {
		results, err := c.Mapping.Apply(in, arrival)
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
			if err := c.Schema.Validate(r.Fields); err != nil {
				reject(r.Raw, "validation: "+err.Error())
				continue
			}
			enc := encoder{}
			data, err := enc.encode(r.Fields)
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
			accepted = append(accepted, Mapped{TS: r.TS, Data: data, Numbers: rollup.Numbers(r.Fields)})
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
