package pipeline

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
)

// Source configures where a pipeline's records come from. Exactly the
// parts of the pipeline's kind may be set: Webhook for a webhook pipeline;
// one polled source kind (a part named for a kind of the Compiler's
// source registry, such as "http" or "graphql"), with Interval and
// optionally State, for a polling one; "pipeline" (see P2PSource) for a
// p2p one.
//
// In JSON, webhook, interval and state are fields of the source object and
// every other key is a part: {"http": {…}, "interval": "60s"}. Decoding
// keeps parts as raw JSON whatever their name; the Compiler refuses names
// that are not kinds, naming the ones it knows.
type Source struct {
	Webhook *WebhookSource `json:"webhook,omitempty"`
	// Parts holds the kind parts by name ("http", "graphql", "pipeline"),
	// as raw JSON.
	Parts map[string]json.RawMessage `json:"-"`
	// Interval is how often a polling pipeline polls, such as "60s".
	Interval string          `json:"interval,omitempty"`
	State    json.RawMessage `json:"state,omitempty"`
}

// p2pPart is the part of a p2p pipeline's source.
const p2pPart = "pipeline"

// Part returns the part of that name, or nil.
func (s Source) Part(name string) json.RawMessage { return s.Parts[name] }

// partNames lists the names of the parts that are set, sorted.
func (s Source) partNames() []string {
	return slices.Sorted(maps.Keys(s.Parts))
}

var sourceType = reflect.TypeFor[Source]()

// UnmarshalJSON reads webhook, interval and state as fields and keeps
// every other member as a part. Like encoding/json, it reads what it can
// and returns the first type error; the strict decoder reports every
// problem with its path before this runs.
func (s *Source) UnmarshalJSON(doc []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(doc, &members); err != nil {
		return err
	}
	if members == nil { // null
		return nil
	}
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	for key, val := range members {
		switch key {
		case "webhook":
			s.Webhook = nil
			keep(json.Unmarshal(val, &s.Webhook))
		case "interval":
			keep(json.Unmarshal(val, &s.Interval))
		case "state":
			s.State = bytes.Clone(val)
		default:
			if s.Parts == nil {
				s.Parts = make(map[string]json.RawMessage)
			}
			s.Parts[key] = bytes.Clone(val)
		}
	}
	return first
}

// MarshalJSON writes webhook, then the parts by name, then interval and
// state, leaving out what is not set.
func (s Source) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the caller's encoder escapes, or not
	buf.WriteByte('{')
	member := func(key string, v any) error {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(key); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1)
		return nil
	}
	if s.Webhook != nil {
		if err := member("webhook", s.Webhook); err != nil {
			return nil, err
		}
	}
	for _, name := range s.partNames() {
		if len(s.Parts[name]) == 0 {
			continue
		}
		if err := member(name, s.Parts[name]); err != nil {
			return nil, err
		}
	}
	if s.Interval != "" {
		if err := member("interval", s.Interval); err != nil {
			return nil, err
		}
	}
	if len(s.State) > 0 {
		if err := member("state", s.State); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
