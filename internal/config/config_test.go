package config_test

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/config"
)

// load parses env as `serve` does and validates the result.
func load(t *testing.T, env map[string]string) (config.Config, error) {
	t.Helper()
	cfg := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	envErr := cfg.Register(fs, func(k string) string { return env[k] }, false)
	if err := fs.Parse(nil); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if err := envErr(); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate(false)
}

func TestTeamMaxInFlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value   string
		want    int
		wantErr string
	}{
		{value: "", want: 64},
		{value: "10", want: 10},
		{value: "0", want: 0},
		{value: "-1", wantErr: "team max in flight: -1 is not between 0 and 1000000"},
		{value: "2000000", wantErr: "team max in flight: 2000000 is not between 0 and 1000000"},
		{value: "lots", wantErr: `TRIBUTARY_TEAM_MAX_IN_FLIGHT="lots": not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			cfg, err := load(t, map[string]string{"TRIBUTARY_TEAM_MAX_IN_FLIGHT": tt.value})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if cfg.TeamMaxInFlight != tt.want {
				t.Errorf("TeamMaxInFlight = %d, want %d", cfg.TeamMaxInFlight, tt.want)
			}
		})
	}
}
