package pipeline

import (
	"bytes"
	"encoding/json"

	"github.com/tributary-dev/tributary/internal/core"
)

// Defaults and limits of a Spec.
const (
	// DefaultRetention is how long records are kept when the spec does not
	// say.
	DefaultRetention = "30d"
	// DefaultInterval is how often a polling pipeline polls when the spec
	// does not say.
	DefaultInterval = "60s"
	// DefaultTolerance is how far a signed webhook's timestamp may be from
	// the clock (Standard Webhooks recommends five minutes).
	DefaultTolerance = "5m"
	// DefaultMaxBodyBytes bounds a webhook request's body when the spec
	// does not say: 10 MiB, after decompression.
	DefaultMaxBodyBytes = 10 << 20
	// MaxBodyBytesLimit is the largest body a spec may allow: 100 MiB.
	MaxBodyBytesLimit = 100 << 20
	// DefaultMaxRecords bounds the records of one webhook request when the
	// spec sets no max_records.
	DefaultMaxRecords = 10_000
	// MaxRecordsLimit is the most records per request a spec may allow.
	MaxRecordsLimit = 1_000_000
	// MaxNameLength is the longest pipeline name, in characters.
	MaxNameLength = 100
)

// Spec is the pipeline document: what a user writes (JSON in the API, YAML
// in files) and what the store keeps, one per pipeline version. Decode
// reads it strictly, Normalize fills its defaults, Compile checks it and
// prepares it for the engine.
type Spec struct {
	// Name is the pipeline's display name, unique in its team.
	Name string `json:"name"`
	// Kind says where records come from: polling, webhook or p2p.
	Kind core.PipelineKind `json:"kind"`
	// Source configures the kind's source (see Source).
	Source Source `json:"source"`
	// Mapping is a mapping.Spec (see package mapping), decoded and compiled
	// by Compile. Absent or null: records pass through unchanged.
	Mapping json.RawMessage `json:"mapping,omitempty"`
	// Validation optionally checks each mapped record.
	Validation *Validation `json:"validation,omitempty"`
	// Persist says whether records are stored. Without it (nil) they are.
	// When false they still reach the cache, live streams and sinks.
	Persist *bool `json:"persist,omitempty"`
	// Retention is how long records are kept: a duration such as "12h",
	// "7d", "30d" or "1y", or "forever". Empty means DefaultRetention.
	Retention string `json:"retention,omitempty"`
	// Sinks are the destinations the pipeline delivers to, each
	// {"name": …, "enabled": true, "<kind>": {settings}}. They are kept as
	// written; package delivery reads them, and checks them against the
	// sink kinds when a spec is saved through the API.
	Sinks []json.RawMessage `json:"sinks,omitempty"`
}

// WebhookSource configures the ingest endpoint of a webhook pipeline. All
// of it is optional.
type WebhookSource struct {
	// SigningSecret names a team secret holding a Standard Webhooks secret
	// ("whsec_..."). When set, requests must carry a valid signature;
	// empty means no verification.
	SigningSecret string `json:"signing_secret,omitempty"`
	// Tolerance is how far a signature's timestamp may be from the clock,
	// such as "5m" (the default), between 1s and 1h.
	Tolerance string `json:"tolerance,omitempty"`
	// MaxBodyBytes bounds a request's body after decompression. Zero means
	// DefaultMaxBodyBytes; at most MaxBodyBytesLimit.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxRecords bounds the records of one request (array elements or
	// NDJSON lines); a request holding more is refused whole. Zero means
	// DefaultMaxRecords; at most MaxRecordsLimit.
	MaxRecords int `json:"max_records,omitempty"`
}

// Validation checks mapped records.
type Validation struct {
	// Schema is a JSON Schema (draft 2020-12) every mapped record must
	// satisfy.
	Schema json.RawMessage `json:"schema,omitempty"`
}

// Decode reads a pipeline document strictly: it must be one JSON object,
// with no unknown, misspelt or repeated field at any level that has a
// fixed shape, and values of the right JSON types. A document that breaks
// these rules gives a *SpecError listing every problem found with its
// path. Decode checks the shape only; Compile checks the content, and
// Parse does both.
func Decode(doc []byte) (Spec, error) {
	s, ps, _ := decode(doc)
	if err := ps.err(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// decode decodes doc into a Spec and lists its problems; typed reports
// that the document is JSON and every value had the right type, so that
// the Spec holds the whole document but its unknown fields.
func decode(doc []byte) (s Spec, ps problems, typed bool) {
	if len(bytes.TrimSpace(doc)) == 0 {
		ps.add("", "the document is empty: send a JSON object with at least name, kind and source")
		return s, ps, false
	}
	typed = decodeStrict(doc, &s, "", &ps)
	return s, ps, typed
}

// Normalize returns the spec with its defaults made explicit and its raw
// JSON parts compacted, which is the form the store keeps: persist and
// retention are always set, a webhook pipeline always has a webhook source
// with its body limit (and its tolerance when it is signed), and null
// parts are dropped. It does not validate; Compile does.
func (s Spec) Normalize() Spec {
	n := s
	n.Mapping = compactRaw(s.Mapping)
	n.Validation = nil
	if s.Validation != nil {
		if schema := compactRaw(s.Validation.Schema); schema != nil {
			n.Validation = &Validation{Schema: schema}
		}
	}
	persist := s.Persist == nil || *s.Persist
	n.Persist = &persist
	if n.Retention == "" {
		n.Retention = DefaultRetention
	}
	n.Source.Parts = nil
	for name, raw := range s.Source.Parts {
		if raw = compactRaw(raw); raw != nil {
			if n.Source.Parts == nil {
				n.Source.Parts = make(map[string]json.RawMessage, len(s.Source.Parts))
			}
			n.Source.Parts[name] = raw
		}
	}
	n.Source.State = compactRaw(s.Source.State)
	if s.Kind == core.KindPolling && n.Source.Interval == "" {
		n.Source.Interval = DefaultInterval
	}
	if s.Source.Webhook != nil || s.Kind == core.KindWebhook {
		var w WebhookSource
		if s.Source.Webhook != nil {
			w = *s.Source.Webhook
		}
		if w.MaxBodyBytes == 0 {
			w.MaxBodyBytes = DefaultMaxBodyBytes
		}
		if w.SigningSecret != "" && w.Tolerance == "" {
			w.Tolerance = DefaultTolerance
		}
		n.Source.Webhook = &w
	}
	n.Sinks = nil
	for _, sink := range s.Sinks {
		n.Sinks = append(n.Sinks, compactRaw(sink))
	}
	return n
}

// Canonical returns the normalized spec as compact JSON: the document to
// store. Decoding and normalizing it again gives the same bytes.
func (s Spec) Canonical() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.Normalize()); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// compactRaw returns raw without insignificant space, or nil when it is
// empty or null. Invalid JSON is returned as it is, for Compile to report.
func compactRaw(raw json.RawMessage) json.RawMessage {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return raw
	}
	return buf.Bytes()
}
