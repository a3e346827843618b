package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
)

// MaxSinks is how many sinks one pipeline may have.
const MaxSinks = 20

// SinkSpec is one entry of a pipeline spec's sinks array:
//
//	{"name": "alerts", "enabled": true, "http": {"url": "https://…"}}
//
// name is unique in the pipeline; enabled defaults to true; exactly one
// other key names the sink's kind and holds its settings.
type SinkSpec struct {
	Name    string
	Enabled bool
	// Kind is the kind's name, the key of its settings ("http", "blob"…).
	Kind     string
	Settings json.RawMessage
}

// MarshalJSON writes the canonical form: name, enabled, then the kind.
func (s SinkSpec) MarshalJSON() ([]byte, error) {
	name, _ := json.Marshal(s.Name)
	kind, _ := json.Marshal(s.Kind)
	settings := bytes.TrimSpace(s.Settings)
	if len(settings) == 0 {
		settings = []byte("{}")
	}
	var buf bytes.Buffer
	buf.WriteString(`{"name":`)
	buf.Write(name)
	fmt.Fprintf(&buf, `,"enabled":%t,`, s.Enabled)
	buf.Write(kind)
	buf.WriteByte(':')
	if err := json.Compact(&buf, settings); err != nil {
		return nil, fmt.Errorf("sink %s: settings: %w", s.Name, err)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// sinkName is what a sink may be called: it appears in API paths.
var sinkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidName reports why name cannot name a sink, or nil.
func ValidName(name string) error {
	if !sinkName.MatchString(name) {
		return errors.New("must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit")
	}
	return nil
}

// ParseSink reads one entry of a sinks array for its shape only (name,
// enabled, one kind key); path prefixes its problems ("sinks[0]").
func ParseSink(raw json.RawMessage, path string) (SinkSpec, []pipeline.Problem) {
	var ps []pipeline.Problem
	add := func(p, msg string) { ps = append(ps, pipeline.Problem{Path: p, Message: msg}) }
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		add(path, `must be an object such as {"name": "alerts", "http": {"url": "https://…"}}`)
		return SinkSpec{}, ps
	}
	s := SinkSpec{Enabled: true}
	if v, ok := fields["name"]; !ok {
		add(path+".name", "is required")
	} else if err := json.Unmarshal(v, &s.Name); err != nil {
		add(path+".name", "must be a string")
	} else if err := ValidName(s.Name); err != nil {
		add(path+".name", err.Error())
	}
	if v, ok := fields["enabled"]; ok {
		if err := json.Unmarshal(v, &s.Enabled); err != nil || string(bytes.TrimSpace(v)) == "null" {
			add(path+".enabled", "must be true or false")
		}
	}
	var kinds []string
	for k := range fields {
		if k != "name" && k != "enabled" {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	switch len(kinds) {
	case 0:
		add(path, `names no kind: add one key with the kind's settings, such as "http": {"url": "https://…"}`)
	case 1:
		s.Kind, s.Settings = kinds[0], fields[kinds[0]]
		if t := bytes.TrimSpace(s.Settings); len(t) == 0 || t[0] != '{' {
			add(path+"."+s.Kind, "must be an object with the kind's settings")
		}
	default:
		add(path, fmt.Sprintf("has the keys %s besides name and enabled: a sink has exactly one kind", strings.Join(quote(kinds), ", ")))
	}
	return s, ps
}

// ParseSinks reads a spec's sinks array for its shape: each entry, names
// unique, at most MaxSinks.
func ParseSinks(raws []json.RawMessage) ([]SinkSpec, []pipeline.Problem) {
	var ps []pipeline.Problem
	if len(raws) > MaxSinks {
		ps = append(ps, pipeline.Problem{Path: "sinks", Message: fmt.Sprintf("has %d sinks, more than the limit of %d", len(raws), MaxSinks)})
	}
	out := make([]SinkSpec, 0, len(raws))
	seen := map[string]int{}
	for i, raw := range raws {
		path := fmt.Sprintf("sinks[%d]", i)
		s, sps := ParseSink(raw, path)
		ps = append(ps, sps...)
		if s.Name != "" {
			if j, dup := seen[s.Name]; dup {
				ps = append(ps, pipeline.Problem{Path: path + ".name", Message: fmt.Sprintf("%q is the name of sinks[%d] already: sink names are unique in a pipeline", s.Name, j)})
			}
			seen[s.Name] = i
		}
		out = append(out, s)
	}
	return out, ps
}

// Find returns the sink of that name.
func Find(sinks []SinkSpec, name string) (SinkSpec, int, bool) {
	i := slices.IndexFunc(sinks, func(s SinkSpec) bool { return s.Name == name })
	if i < 0 {
		return SinkSpec{}, -1, false
	}
	return sinks[i], i, true
}

// checkKinds validates each sink's kind and settings against the registry
// (save-time checks: unknown kind, bad or forbidden URLs, malformed
// settings) and lists the secrets each names.
func checkKinds(reg *sink.Registry, deps sink.Deps, sinks []SinkSpec, paths []string) (secrets [][]string, ps []pipeline.Problem) {
	secrets = make([][]string, len(sinks))
	for i, s := range sinks {
		if t := bytes.TrimSpace(s.Settings); s.Kind == "" || len(t) == 0 || t[0] != '{' {
			continue // reported by ParseSink
		}
		path := paths[i] + "." + s.Kind
		kind, ok := reg.Kind(s.Kind)
		if !ok {
			ps = append(ps, pipeline.Problem{Path: path, Message: fmt.Sprintf("%q is not a sink kind: use one of %s", s.Kind, strings.Join(quote(reg.Names()), ", "))})
			continue
		}
		names, err := kind.Validate(s.Settings, deps)
		if err != nil {
			for _, msg := range splitErrors(err) {
				p := path
				msg = strings.TrimPrefix(msg, s.Kind+": ")
				// "url: is required" → path sinks[0].http.url
				if field, rest, ok := strings.Cut(msg, ": "); ok && settingField.MatchString(field) {
					p, msg = path+"."+field, rest
				}
				ps = append(ps, pipeline.Problem{Path: p, Message: msg})
			}
			continue
		}
		secrets[i] = names
	}
	return secrets, ps
}

// settingField is a setting's path at the start of a kind's error.
var settingField = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$`)

// splitErrors lists the messages of a (possibly joined) error.
func splitErrors(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// SecretRef is a team secret a sink's settings name: any string member
// called "secret" or ending in "_secret", at any depth.
type SecretRef struct {
	// Path is where in the pipeline spec: "sinks[0].http.signing_secret".
	Path string
	Name string
	// Signing is set for signing_secret members, which must hold a
	// Standard Webhooks secret.
	Signing bool
}

// SecretRefs lists the team secrets a spec's sinks name, by the naming
// convention every sink kind follows, without a registry: it works on any
// stored spec, so a secret in use cannot be deleted.
func SecretRefs(sinks []json.RawMessage) []SecretRef {
	var out []SecretRef
	for i, raw := range sinks {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range sortedKeys(obj) {
			if k == "name" || k == "enabled" {
				continue
			}
			walkSecrets(obj[k], fmt.Sprintf("sinks[%d].%s", i, k), &out)
		}
	}
	return out
}

func walkSecrets(v any, path string, out *[]SecretRef) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			p := path + "." + k
			if name, ok := v[k].(string); ok && (k == "secret" || strings.HasSuffix(k, "_secret")) {
				if name != "" {
					*out = append(*out, SecretRef{Path: p, Name: name, Signing: k == "signing_secret"})
				}
				continue
			}
			walkSecrets(v[k], p, out)
		}
	case []any:
		for i, e := range v {
			walkSecrets(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fieldsOf lists the mapped fields a spec declares, by name, for kinds
// that need a schema. A mapping without fields (pass-through, a record
// expression) declares none.
func fieldsOf(s pipeline.Spec) []sink.Field {
	if len(s.Mapping) == 0 {
		return nil
	}
	var m mapping.Spec
	if json.Unmarshal(s.Mapping, &m) != nil || len(m.Fields) == 0 {
		return nil
	}
	out := make([]sink.Field, 0, len(m.Fields))
	for name, f := range m.Fields {
		out = append(out, sink.Field{Name: name, Type: f.Type})
	}
	slices.SortFunc(out, func(a, b sink.Field) int { return strings.Compare(a.Name, b.Name) })
	return out
}
