// Package httpapi is Tributary's HTTP surface: the middleware every request
// passes (request id, panic recovery, access log, metrics, authentication,
// cross-origin protection, body limits), the health and metrics endpoints,
// and the JSON API under /api/v1, built with huma so that its OpenAPI 3.1
// document (/api/v1/openapi.json) is generated from the Go types.
//
// Handlers translate between wire types (declared here) and domain types;
// domain errors become RFC 9457 problem+json responses in one place
// (problem.go).
package httpapi
