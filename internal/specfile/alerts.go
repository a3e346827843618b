package specfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/tributary-dev/tributary/internal/alert"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// Alert rules and channels as code. In a file a rule is a document with
// kind: alert_rule and a channel one with kind: alert_channel (or items
// of alert_rules and alert_channels lists); the rest of the document is
// the one the API takes (package alert). The server stores the document
// without kind; Spec here is that form, and EncodeAlert adds kind back
// for export.

// Document kinds of alert rules and channels in files.
const (
	KindAlertRule    = "alert_rule"
	KindAlertChannel = "alert_channel"
)

// Alert is one alert rule or channel document read from a file.
type Alert struct {
	// Kind is KindAlertRule or KindAlertChannel.
	Kind string
	// Name is the rule's or channel's name, which apply matches by.
	Name string
	// File and Line are where the document starts.
	File string
	Line int
	// Spec is the document without kind in Normalize form: what apply
	// sends and compares with the server's.
	Spec json.RawMessage
	// Rule or Channel is the decoded document.
	Rule    *alert.Rule
	Channel *alert.Channel
	lines   map[string]int
	prefix  string
}

// LineOf returns the line of path (such as "threshold.field") in the
// document's file: the nearest enclosing part that the file has.
func (a Alert) LineOf(path string) int { return lineOf(a.lines, path, a.Line) }

// Path returns path as Problems write it: under the document's place in
// its file ("alert_rules[1].pipeline").
func (a Alert) Path(path string) string { return a.prefix + path }

// alertKind returns the alert kind a document names with kind:, or "".
func alertKind(m mapping) string {
	k, ok := m.get("kind")
	if !ok {
		return ""
	}
	s, ok := unwrap(k).(*ast.StringNode)
	if ok && (s.Value == KindAlertRule || s.Value == KindAlertChannel) {
		return s.Value
	}
	return ""
}

// readAlert converts one rule or channel node to JSON and checks it.
func readAlert(kind, file string, node ast.Node, prefix string) (Alert, Problems) {
	a := Alert{Kind: kind, File: file, Line: node.GetToken().Position.Line, lines: map[string]int{}, prefix: prefix}
	c := converter{file: file, lines: a.lines, prefix: prefix}
	var buf bytes.Buffer
	c.value(&buf, node, "", "")
	if kind == KindAlertChannel {
		c.checkChannelCredentials(node)
	}
	if len(c.problems) > 0 {
		return a, c.problems
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		return a, Problems{{File: file, Line: a.Line, Path: strings.TrimSuffix(prefix, "."), Message: "must be a mapping"}}
	}
	if k, ok := doc["kind"]; ok && string(k) != `"`+kind+`"` {
		return a, Problems{{File: file, Line: a.LineOf("kind"), Path: prefix + "kind", Message: fmt.Sprintf("must be %s in the %ss list", kind, kind)}}
	}
	delete(doc, "kind")
	raw, err := json.Marshal(doc)
	if err != nil {
		return a, Problems{{File: file, Line: a.Line, Message: fmt.Sprintf("encode the document: %v", err)}}
	}
	if kind == KindAlertRule {
		a.Rule, err = alert.ParseRule(raw)
	} else {
		a.Channel, err = alert.ParseChannel(raw)
	}
	var se *pipeline.SpecError
	switch {
	case errors.As(err, &se):
		var problems Problems
		for _, p := range se.Problems {
			problems = append(problems, Problem{File: file, Line: lineOf(a.lines, p.Path, a.Line), Path: prefix + p.Path, Message: p.Message})
		}
		return a, problems
	case err != nil:
		return a, Problems{{File: file, Line: a.Line, Path: strings.TrimSuffix(prefix, "."), Message: err.Error()}}
	}
	if a.Spec, err = Normalize(raw); err != nil {
		return a, Problems{{File: file, Line: a.Line, Message: err.Error()}}
	}
	if a.Rule != nil {
		a.Name = a.Rule.Name
	} else {
		a.Name = a.Channel.Name
	}
	return a, nil
}

// checkChannelCredentials refuses what a channel document would carry as
// a credential: a Slack incoming-webhook URL written out (it goes in a
// secret named by slack.url_secret) and a signing key written where its
// secret's name belongs.
func (c *converter) checkChannelCredentials(node ast.Node) {
	m, ok := asMapping(unwrap(node))
	if !ok {
		return
	}
	for _, kind := range []string{"slack", "webhook"} {
		v, ok := m.get(kind)
		if !ok {
			continue
		}
		sub, ok := asMapping(unwrap(v))
		if !ok {
			continue
		}
		for _, e := range sub.entries {
			k, _ := scalarKey(e.Key)
			s, isStr := unwrap(e.Value).(*ast.StringNode)
			switch {
			case kind == "slack" && k == "url":
				c.fail(kind+"."+k, e.Value, "a Slack incoming-webhook URL is a credential and never goes in files: "+
					strings.Replace(createSecret, "write its name here", "name it in slack.url_secret", 1))
			case isSecretRef(k) && isStr && looksLikeSecretValue(s.Value) && secretName.MatchString(s.Value): // else checkString said so
				c.fail(kind+"."+k, e.Value, "holds a secret value, not a secret's name: "+createSecret)
			}
		}
	}
}

// looksLikeSecretValue reports whether a secret reference holds what is
// plainly a value: a Standard Webhooks key or a URL.
func looksLikeSecretValue(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "whsec_") || strings.Contains(l, "://")
}

// Channels returns the channel names a rule document sends to.
func (a Alert) Channels() []string {
	if a.Rule == nil {
		return nil
	}
	return a.Rule.Channels
}

// Pipeline returns the pipeline a rule document watches ("" for every
// pipeline of the team).
func (a Alert) Pipeline() string {
	if a.Rule == nil {
		return ""
	}
	return a.Rule.Pipeline
}

// SecretRefs returns the names of the team secrets a channel document
// names.
func (a Alert) SecretRefs() []string {
	if a.Channel == nil {
		return nil
	}
	var out []string
	for _, name := range a.Channel.Secrets() {
		out = append(out, name)
	}
	return out
}

// MapRulePipeline rewrites the pipeline a rule document (JSON, without
// kind) names with fn: ids to names when export writes it and apply
// compares. It returns the Normalize form.
func MapRulePipeline(doc json.RawMessage, fn func(ref string) string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("decode the alert rule: %w", err)
	}
	if raw, ok := m["pipeline"]; ok {
		var ref string
		if json.Unmarshal(raw, &ref) == nil && ref != "" {
			b, _ := json.Marshal(fn(ref))
			m["pipeline"] = b
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode the alert rule: %w", err)
	}
	return Normalize(out)
}

// EncodeAlert returns a rule or channel document (JSON, without kind) as
// the canonical YAML export writes, with kind added after its name.
func EncodeAlert(kind string, doc json.RawMessage) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("decode the %s: %w", kind, err)
	}
	m["kind"], _ = json.Marshal(kind)
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode the %s: %w", kind, err)
	}
	return Encode(b)
}

// AlertFileName returns the file name export gives a rule or channel:
// "alert-rule-" or "alert-channel-" and FileName of its name.
func AlertFileName(kind, name string) string {
	return strings.ReplaceAll(kind, "_", "-") + "-" + FileName(name)
}
