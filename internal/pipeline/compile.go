package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/schema"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/vault"
)

// Bounds of the durations in a Spec.
const (
	minRetention = time.Hour
	maxRetention = 100 * Year
	minTolerance = time.Second
	maxTolerance = time.Hour
	minInterval  = time.Second
	maxInterval  = 30 * Day
	minBodyBytes = 1 << 10
)

// Compiled is a checked Spec, ready for the engine and the sources: its
// mapping and schema compiled once, its settings parsed and defaulted. It
// is immutable and safe for concurrent use.
type Compiled struct {
	// Spec is the normalized spec it was compiled from.
	Spec Spec
	// Mapping maps input records; nil passes them through unchanged
	// (mapping.Mapping.Apply accepts a nil receiver).
	Mapping *mapping.Mapping
	// Schema validates mapped records; nil when the spec has none.
	Schema *schema.Schema
	// Persist says whether records are written to the records table.
	Persist bool
	// Retention is how long records are kept; 0 means forever.
	Retention time.Duration
	// Interval is how often a polling pipeline polls; 0 for other kinds.
	Interval time.Duration
	// Source is the compiled polled source (HTTP or GraphQL) of a polling
	// pipeline; nil for other kinds.
	Source *source.Source
	// SigningSecret names the team secret that verifies webhook
	// signatures; empty means requests are not verified.
	SigningSecret string
	// WebhookTolerance is how far a webhook signature's timestamp may be
	// from the clock; set for webhook pipelines.
	WebhookTolerance time.Duration
	// MaxBodyBytes bounds a webhook request's body after decompression;
	// set for webhook pipelines.
	MaxBodyBytes int64
	// MaxRecords bounds the records of one webhook request; set for
	// webhook pipelines.
	MaxRecords int
	// Upstream names the pipeline a p2p pipeline reads from, by id or
	// name, as the spec says (see P2PSource); empty for other kinds.
	Upstream string

	secrets []SecretRef
}

// Compile checks everything in a spec — name, kind, the source parts the
// kind allows, mapping, schema, retention, body limits — and compiles the
// mapping and the schema. A spec that is not valid gives a *SpecError
// listing every problem, with the line and column of expression errors.
// Compile normalizes s first, so it accepts a spec with its defaults left
// out.
func (cc *Compiler) Compile(s Spec) (*Compiled, error) {
	n := s.Normalize()
	c := &Compiled{Spec: n, Persist: *n.Persist}
	var ps problems

	checkName(n.Name, &ps)
	switch {
	case n.Kind == "":
		ps.add("kind", `is required: "polling", "webhook" or "p2p"`)
	case !n.Kind.Valid():
		ps.add("kind", fmt.Sprintf(`%q is not a kind: use "polling", "webhook" or "p2p"`, n.Kind))
	default:
		cc.compileSource(c, &ps)
	}
	c.compileMapping(&ps)
	c.compileSchema(&ps)
	if n.Retention != "forever" {
		d, err := checkDuration(n.Retention, minRetention, maxRetention)
		if err != nil {
			ps.add("retention", err.Error()+` (or say "forever")`)
		}
		c.Retention = d
	}
	for i, sink := range n.Sinks {
		if !isObject(sink) {
			ps.add(fmt.Sprintf("sinks[%d]", i), "must be an object")
			continue
		}
		// Saved in the sink kinds' current vocabulary.
		c.Spec.Sinks[i], _ = cc.sinks.CanonicalSink(sink)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	c.secrets = cc.secretRefs(n)
	return c, nil
}

func checkName(name string, ps *problems) {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		ps.add("name", "is required")
		return
	case n > MaxNameLength:
		ps.add("name", fmt.Sprintf("has %d characters, more than the limit of %d", n, MaxNameLength))
		return
	case !utf8.ValidString(name):
		ps.add("name", "is not valid UTF-8")
		return
	}
	if strings.TrimSpace(name) != name {
		ps.add("name", "starts or ends with a space")
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		ps.add("name", "contains a control character such as a newline or tab")
	}
}

// compileSource checks the parts of the source against the pipeline's
// kind and compiles the kind's part.
func (cc *Compiler) compileSource(c *Compiled, ps *problems) {
	src, kind := &c.Spec.Source, c.Spec.Kind
	polled := cc.sources.Names()
	wrongKind := func(name string, want core.PipelineKind) {
		if want != kind {
			ps.add("source."+name, fmt.Sprintf("is for %s pipelines; a %s pipeline has no %s", want, kind, name))
		}
	}
	if src.Webhook != nil {
		wrongKind("webhook", core.KindWebhook)
	}
	for _, name := range cc.sourceKindOrder() {
		if src.Parts[name] != nil {
			wrongKind(name, core.KindPolling)
		}
	}
	if src.Interval != "" {
		wrongKind("interval", core.KindPolling)
	}
	if src.State != nil {
		wrongKind("state", core.KindPolling)
	}
	if src.Parts[p2pPart] != nil {
		wrongKind(p2pPart, core.KindP2P)
	}
	for _, name := range src.partNames() {
		if name != p2pPart && !slices.Contains(polled, name) {
			ps.add("source."+name, unknownField(name, cc.sourceFields()))
		}
	}
	for _, name := range append(cc.sourceKindOrder(), p2pPart) {
		if v := src.Parts[name]; v != nil && !isObject(v) {
			ps.add("source."+name, "must be an object")
		}
	}
	if src.State != nil && !isObject(src.State) {
		ps.add("source.state", "must be an object")
	}

	switch kind {
	case core.KindWebhook:
		c.compileWebhook(src.Webhook, ps)
	case core.KindPolling:
		var set []string
		for _, name := range cc.sourceKindOrder() {
			if src.Parts[name] != nil {
				set = append(set, name)
			}
		}
		switch len(set) {
		case 0:
			ps.add("source", "a polling pipeline needs "+orList(cc.sourceKindOrder())+" source")
		case 1:
		case 2:
			ps.add("source", fmt.Sprintf("use either %s or %s, not both", set[0], set[1]))
		default:
			ps.add("source", fmt.Sprintf("use one of %s, not several", strings.Join(set, ", ")))
		}
		interval := src.Interval
		if interval == "" {
			interval = DefaultInterval
		}
		if d, err := checkDuration(interval, minInterval, maxInterval); err != nil {
			ps.add("source.interval", err.Error())
		} else {
			c.Interval = d
		}
		if len(set) == 1 {
			cc.compilePolling(c, set[0], ps)
		}
	case core.KindP2P:
		raw := src.Parts[p2pPart]
		if raw == nil {
			ps.add("source.pipeline", `is required for a p2p pipeline: {"upstream": "<name or id of the upstream pipeline>"}`)
		}
		c.compileP2P(raw, ps)
	}
}

// orList writes names as "an http or a graphql", each with its article.
func orList(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = article(n) + " " + n
	}
	switch len(parts) {
	case 0:
		return "a"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// article is the article of a kind's name, read as letters when it is an
// acronym ("an http", "an sftp", "a graphql", "a kafka").
func article(name string) string {
	if name != "" && strings.ContainsRune("aefhilmnorsx", rune(name[0])) {
		return "an"
	}
	return "a"
}

func (c *Compiled) compileWebhook(w *WebhookSource, ps *problems) {
	// Normalize gave a webhook pipeline a webhook source.
	tolerance := w.Tolerance
	if tolerance == "" {
		tolerance = DefaultTolerance
	}
	if d, err := checkDuration(tolerance, minTolerance, maxTolerance); err != nil {
		ps.add("source.webhook.tolerance", err.Error())
	} else {
		c.WebhookTolerance = d
	}
	if w.SigningSecret != "" {
		if err := vault.ValidName(w.SigningSecret); err != nil {
			ps.add("source.webhook.signing_secret", "must name a team secret: "+strings.TrimPrefix(err.Error(), core.ErrInvalid.Error()+": "))
		} else {
			c.SigningSecret = w.SigningSecret
		}
	}
	switch {
	case w.MaxBodyBytes < minBodyBytes || w.MaxBodyBytes > MaxBodyBytesLimit:
		ps.add("source.webhook.max_body_bytes", fmt.Sprintf("%d is not between %d (1 KiB) and %d (100 MiB)", w.MaxBodyBytes, minBodyBytes, MaxBodyBytesLimit))
	default:
		c.MaxBodyBytes = w.MaxBodyBytes
	}
	switch {
	case w.MaxRecords == 0:
		c.MaxRecords = DefaultMaxRecords
	case w.MaxRecords < 1 || w.MaxRecords > MaxRecordsLimit:
		ps.add("source.webhook.max_records", fmt.Sprintf("%d is not between 1 and %d", w.MaxRecords, MaxRecordsLimit))
	default:
		c.MaxRecords = w.MaxRecords
	}
}

func (c *Compiled) compileMapping(ps *problems) {
	raw := c.Spec.Mapping
	if raw == nil {
		return
	}
	if !isObject(raw) {
		ps.add("mapping", "must be an object")
		return
	}
	var spec mapping.Spec
	// Unknown fields do not stop the compilation: what is known may have
	// problems of its own, and all are reported at once.
	if !decodeStrict(raw, &spec, "mapping", ps) || spec.IsZero() {
		return
	}
	m, err := mapping.Compile(spec)
	var ce *mapping.CompileError
	switch {
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			msg := p.Message
			if p.Line > 0 {
				msg += fmt.Sprintf(" (line %d, column %d)", p.Line, p.Column)
			}
			ps.add(joinPath("mapping", p.Field), msg)
		}
	case err != nil:
		ps.add("mapping", err.Error())
	default:
		c.Mapping = m
	}
}

func (c *Compiled) compileSchema(ps *problems) {
	if c.Spec.Validation == nil {
		return
	}
	raw := c.Spec.Validation.Schema
	if t := string(bytes.TrimSpace(raw)); !isObject(raw) && t != "true" && t != "false" {
		ps.add("validation.schema", "must be a JSON Schema: an object, or true or false")
		return
	}
	s, err := schema.Compile(raw)
	if err != nil {
		ps.add("validation.schema", strings.TrimPrefix(err.Error(), "schema: "))
		return
	}
	c.Schema = s
}

// isObject reports whether raw is a JSON object (by its first byte; the
// document was decoded already).
func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}
