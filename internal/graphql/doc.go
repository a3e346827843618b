// Package graphql serves the GraphQL API at /graphql: a transport over
// the pipeline service (internal/orchestrator), like the REST handlers of
// internal/httpapi. Resolvers turn arguments into service calls; the
// service authorizes and applies every rule, and presentError maps its
// errors to GraphQL errors with a stable extensions.code.
//
// Lists of a team's objects are Relay connections (paging.go). The
// children of a listed pipeline are fetched for the whole page at once
// by a per-operation loader over the service's batch reads (loaders.go),
// so a list query costs a fixed number of SQL statements.
//
// The schema is schema.graphqls; exec_gen.go and the resolver stubs in
// schema.resolvers.go are generated from it by gqlgen (gqlgen.yml):
// edit the schema, run `go generate ./internal/graphql/...`, and fill in
// the new resolvers.
package graphql
