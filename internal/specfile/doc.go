// Package specfile reads and writes pipelines as code: YAML (or JSON)
// files holding pipeline specs, sinks included, the same documents the API
// takes (see package pipeline).
//
// A file holds one or more YAML documents separated by "---"; each is
// either one pipeline spec or a mapping with a "pipelines" list of specs.
// JSON is YAML, so a .json file holding a spec (or {"pipelines": [...]})
// reads the same way.
//
// Load reads files and directories and checks every spec without a server:
// the YAML, the shape and content of the spec (pipeline.Parse), the shape
// of its sinks (delivery.ParseSinks), names unique across the files, and
// that no secret value is written inline: fields that name a team secret
// ("secret", "signing_secret", "…_secret") must hold a secret's name, and
// credentials such as passwords, tokens or an Authorization header must
// not appear at all. Every problem is reported at once, with its file,
// line and path in the spec.
//
// Dashboards (kind: dashboard), alert rules (kind: alert_rule) and alert
// channels (kind: alert_channel) live in the same files, alone or in
// dashboards, alert_rules and alert_channels lists; see Set.
//
// Encode writes a spec as canonical YAML, the form export writes and
// apply's diff compares; Diff is a unified diff of two such texts.
package specfile
