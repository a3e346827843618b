// Package source fetches the records of polling pipelines: HTTP APIs and
// GraphQL endpoints polled on an interval.
//
// # Kinds and the registry
//
// A kind of source ("http", "graphql") is one file and one entry of a
// [Registry]: a Kind names the part of a pipeline's source it reads, gives
// the Go type that part decodes into, and builds a [Fetcher] from a decoded
// spec, reporting every problem with its path. The pipeline package decodes
// a spec strictly and asks the registry to build it when the pipeline is
// saved, so a spec that would fail at poll time is refused at save time
// instead; nothing outside this package switches on a kind's name.
//
// # One poll
//
// [Source.Poll] runs one poll: it renders the request templates from the
// pipeline's incremental [State], sends every request through the SSRF
// guard (netguard) with the configured authentication, follows the
// pagination up to its page bound, decodes JSON, NDJSON or CSV bodies and
// extracts the records, and computes the next state and the dedup keys of
// the records. It never stores anything: the caller (package jobs) commits
// the records together with the new state, so a failed poll keeps the
// previous state and the next poll asks for the same range again.
//
// # Templates
//
// URL, query values, header values, the request body and GraphQL variables
// may refer to the state as {{ state.NAME }}; nothing else is a template,
// and users never write Go templates. A value that is exactly one template
// keeps the state value's JSON type in a JSON body or in variables.
//
// # Secrets
//
// Credentials are team secrets named in the spec and opened at poll time.
// Their values, and the tokens obtained with them, are removed from every
// error a poll returns (see [Error]); URLs in errors have their query values
// redacted. A credential is never sent to another origin than the one
// configured: redirects to another host lose the authentication headers
// and a pagination link to another origin is refused.
package source
