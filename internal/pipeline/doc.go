// Package pipeline owns the pipeline document: the JSON (later also YAML)
// that describes one pipeline — name, kind, source, mapping, validation,
// persistence, retention, sinks — and its checking.
//
// A [Compiler] is built once, in the composition root, from the registry
// of source kinds (package source) and of sink kinds (package sink); the
// API saves a pipeline in two steps:
//
//	c, err := compiler.Parse(body) // Decode (shape) and Compile (content)
//	doc, err := c.Spec.Canonical() // what the store keeps, defaults explicit
//
// Decode checks the shape — one JSON object, no unknown, misspelt or
// repeated field, values of the right JSON types — and Compile the
// content. Parse does both and, when only unknown fields are wrong, still
// checks the content, so that the answer lists everything to fix.
//
// They report problems as a *SpecError: a list of Problems, each with the
// path of the offending part ("source.webhook.tolerance",
// "mapping.fields.temp.expr") and a message that says what is wrong (with
// the line and column of JSON syntax errors and of errors inside a mapping
// expression). The API turns them into RFC 9457 "errors" entries of a 422
// answer; errors.Is(err, core.ErrInvalid) holds for them.
//
// Parse is also how the engine prepares a stored version for processing
// (the engine caches the result per pipeline version): the *Compiled holds
// the compiled mapping and schema and the parsed settings, and is shared by
// every goroutine that handles the pipeline.
//
// A source's kind parts ("http", "graphql", "pipeline") are decoded
// generically, whatever their name, and kept as raw JSON: the Compiler
// refuses a name that is no kind (naming the kinds it knows) and builds
// the polled source through the source registry, so adding a kind never
// touches this package. Sinks are kept as raw JSON too; package delivery
// checks them. The secrets a spec names are what its kinds declare:
// Compiled.SecretRefs, or Compiler.SecretRefsOf for a stored document
// that may no longer compile.
package pipeline
