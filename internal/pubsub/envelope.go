package pubsub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Envelopes are how a Cluster broker sends a message to the other nodes:
// one header line, then the payload.
//
//	T1 <origin> <seq> <code> <team or -> <topic>\n<payload>
//
// origin is the sending node's id, seq numbers the node's messages on the
// topic from 1 without gaps, and code says what follows:
//
//	r  a KindRecords message; the payload is the Batch JSON
//	c  a KindControl message; the payload is the publisher's JSON
//	p  a batch too large for the transport; the payload is a Pointer
//	g  nothing; seq is the topic's latest seq, so that receivers learn of
//	   messages the sender could not send and count them as lost
//
// Everything is text (payloads are JSON), so PostgreSQL's NOTIFY carries
// envelopes as they are.
const envelopeVersion = "T1"

// Envelope codes.
const (
	codeRecords = 'r'
	codeControl = 'c'
	codePointer = 'p'
	codeGap     = 'g'
)

// envelope is a decoded envelope.
type envelope struct {
	origin  string
	seq     uint64
	code    byte
	team    uuid.UUID
	topic   string
	payload []byte
}

// encode returns the envelope's wire form.
func (e envelope) encode() []byte {
	buf := make([]byte, 0, 96+len(e.topic)+len(e.payload))
	buf = append(buf, envelopeVersion...)
	buf = append(buf, ' ')
	buf = append(buf, e.origin...)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, e.seq, 10)
	buf = append(buf, ' ', e.code, ' ')
	if e.team == uuid.Nil {
		buf = append(buf, '-')
	} else {
		buf = append(buf, e.team.String()...)
	}
	buf = append(buf, ' ')
	buf = append(buf, e.topic...)
	buf = append(buf, '\n')
	return append(buf, e.payload...)
}

// errEnvelope is wrapped by every decoding error.
var errEnvelope = errors.New("pubsub: malformed envelope")

// decodeEnvelope parses an envelope's wire form. The payload aliases b.
func decodeEnvelope(b []byte) (envelope, error) {
	var e envelope
	head, payload, ok := bytes.Cut(b, []byte{'\n'})
	if !ok {
		return e, fmt.Errorf("%w: no header line", errEnvelope)
	}
	f := bytes.SplitN(head, []byte{' '}, 6)
	if len(f) != 6 || string(f[0]) != envelopeVersion || len(f[3]) != 1 || len(f[1]) == 0 || len(f[5]) == 0 {
		return e, fmt.Errorf("%w: bad header %.80q", errEnvelope, head)
	}
	seq, err := strconv.ParseUint(string(f[2]), 10, 64)
	if err != nil || seq == 0 {
		return e, fmt.Errorf("%w: bad sequence %q", errEnvelope, f[2])
	}
	if string(f[4]) != "-" {
		if e.team, err = uuid.ParseBytes(f[4]); err != nil {
			return e, fmt.Errorf("%w: bad team %q", errEnvelope, f[4])
		}
	}
	e.origin, e.seq, e.code, e.topic, e.payload = string(f[1]), seq, f[3][0], string(f[5]), payload
	switch e.code {
	case codeRecords, codeControl, codePointer, codeGap:
	default:
		return e, fmt.Errorf("%w: unknown code %q", errEnvelope, e.code)
	}
	return e, nil
}

// Pointer stands for a committed batch too large for the transport (over
// PostgreSQL NOTIFY's 8,000 bytes): receivers read its records from the
// store by id, within the event-time range, and rebuild the Batch.
type Pointer struct {
	Team     uuid.UUID `json:"team"`
	Pipeline uuid.UUID `json:"pipeline"`
	Version  int64     `json:"version"`
	Count    int       `json:"count"`
	Rejected int       `json:"rejected"`
	// From and To bound the records' event times, both inclusive.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// IDs are the records' ids as inclusive runs [first, last], ascending.
	// A node takes ids in blocks of its own, so every id of a run that
	// belongs to the pipeline belongs to the batch.
	IDs [][2]int64 `json:"ids"`
}

// errNoPointer says a batch cannot be sent as a pointer: some of its
// records were not persisted.
var errNoPointer = errors.New("pubsub: batch has records that were not persisted")

// pointerFor builds the pointer of a Batch payload.
func pointerFor(team uuid.UUID, payload []byte) (Pointer, error) {
	var b struct {
		Pipeline uuid.UUID `json:"pipeline"`
		Version  int64     `json:"version"`
		Rejected int       `json:"rejected"`
		Records  []struct {
			ID int64     `json:"id"`
			TS time.Time `json:"ts"`
		} `json:"records"`
	}
	if err := json.Unmarshal(payload, &b); err != nil {
		return Pointer{}, fmt.Errorf("pubsub: decode batch for a pointer: %w", err)
	}
	return PointerOf(team, b.Pipeline, b.Version, b.Rejected, len(b.Records), func(i int) (int64, time.Time) {
		return b.Records[i].ID, b.Records[i].TS
	})
}

// PointerOf builds the Pointer of a committed batch of n records, whose
// i-th record's id and event time record returns, without its payload.
// It fails with a record that was not persisted (id 0).
func PointerOf(team, pipeline uuid.UUID, version int64, rejected, n int, record func(i int) (id int64, ts time.Time)) (Pointer, error) {
	p := Pointer{Team: team, Pipeline: pipeline, Version: version, Count: n, Rejected: rejected}
	ids := make([]int64, 0, n)
	for i := range n {
		id, ts := record(i)
		if id == 0 {
			return Pointer{}, errNoPointer
		}
		ids = append(ids, id)
		if i == 0 || ts.Before(p.From) {
			p.From = ts
		}
		if i == 0 || ts.After(p.To) {
			p.To = ts
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if k := len(p.IDs); k > 0 && p.IDs[k-1][1]+1 >= id {
			p.IDs[k-1][1] = id
			continue
		}
		p.IDs = append(p.IDs, [2]int64{id, id})
	}
	return p, nil
}

func jsonMarshal(v any) ([]byte, error)   { return json.Marshal(v) }
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
