// Package core holds Tributary's domain types — teams, users, memberships,
// API tokens, sessions — and the sentinel errors every layer shares.
//
// The types here are plain data: they carry no behaviour that needs a
// database, HTTP or any other outside part, so every package can import core
// without pulling anything else in. Wire formats (API request and response
// bodies) are separate types that live with the API and convert at the
// boundary.
package core
