// Package apptest starts a real Tributary server (app.Serve) on a loopback
// port and a fresh SQLite or PostgreSQL database for the end-to-end tests
// of the client and the command line, and gives it a user, a team and API
// tokens of each role.
package apptest
