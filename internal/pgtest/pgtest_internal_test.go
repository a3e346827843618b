package pgtest

import (
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		isOK bool
	}{
		{"postgres://u:secret@localhost:5432/postgres", true},
		{"postgresql://u:secret@localhost/postgres?sslmode=disable", true},
		{"host=localhost user=u password=secret", false},
		{"mysql://u:secret@localhost/db", false},
		{"postgres://u:secret@local host:bad/", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := checkURL(tt.url)
			if (err == nil) != tt.isOK {
				t.Fatalf("checkURL() = %v, want ok %v", err, tt.isOK)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}
