// Package orchestrator is the pipeline service: the one floor between the
// transports (REST today; GraphQL, the command line's apply, the web UI
// and alerts next) and the core (store, engine, pipeline, delivery). It
// owns the lifecycle of pipelines, their sinks and the team secrets they
// use, with one method per use case.
//
// Every use case takes the Caller (the request's principal and the team it
// names), checks the caller's role in that team, and returns domain
// errors (errors.go) that a transport maps to its status codes in one
// place. A transport decodes, calls one method and encodes; it makes no
// rule of its own.
//
// A change is written in one store call (one transaction): a spec with the
// secrets it names held against deletion, a spec with the state of the
// sink it changed. After a change, everything that keeps a view of the
// pipeline is told from one place (Service.changed): the webhook token
// cache, the p2p link index, live streams (a control event on the
// broker), the poll scheduler, and, for a deletion, the engine's and the
// recent-records cache's entries. Each of those is a small interface
// declared here, so that this package depends on none of their packages.
package orchestrator
