// Package cli is the tributary command line, on github.com/spf13/cobra.
//
// Two families of commands share it. The server's own commands (serve,
// migrate, user create, token create, version) read the configuration of
// package config from flags and TRIBUTARY_* variables and work on the
// database directly; their flags are parsed by the standard flag package
// exactly as before the move to cobra. The client commands (login,
// pipelines, records, upload, apply, export) talk to a running server
// through package client, at TRIBUTARY_URL with TRIBUTARY_TOKEN, or the
// URL and token that `tributary login` stored in the user's configuration
// directory.
//
// Run is the whole program; main only wires it to the process.
package cli
