package mapping

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format  string
		layout  string // for layouts, the Go layout
		wantErr string
	}{
		{format: ""},
		{format: "rfc3339"},
		{format: "RFC3339"},
		{format: "unix"},
		{format: "unix_ms"},
		{format: "unix_us"},
		{format: "unix_ns"},
		{format: "2006-01-02 15:04:05", layout: "2006-01-02 15:04:05"},
		{format: "02/01/2006", layout: "02/01/2006"},
		{format: "%Y-%m-%d %H:%M:%S", layout: "2006-01-02 15:04:05"},
		{format: "%d/%m/%y %I:%M %p", layout: "02/01/06 03:04 PM"},
		{format: "%Y-%m-%dT%H:%M:%S.%f%z", layout: "2006-01-02T15:04:05.000000-0700"},
		{format: "%a, %d %b %Y %T %Z", layout: "Mon, 02 Jan 2006 15:04:05 MST"},
		{format: "%F %R %:z", layout: "2006-01-02 15:04 -07:00"},
		{format: "%Y/%-m/%-d", layout: "2006/1/2"},
		{format: "%Y-%j", layout: "2006-002"},
		{format: "unixx", wantErr: "unknown time format"},
		{format: "seconds", wantErr: "unknown time format"},
		{format: "15:04", wantErr: "must contain a year"},
		{format: "%H:%M", wantErr: "must contain a year"},
		{format: "%Y-%q", wantErr: "unsupported directive %q"},
		{format: "%Y%", wantErr: "lone %"},
		{format: "%Y-%m-%d 12h", wantErr: "literal digits"},
		{format: "%Y %f", wantErr: "%f must follow"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			f, err := parseFormat(tt.format, time.UTC, true)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFormat(%q) error = %v, want one containing %q", tt.format, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.layout != "" && f.layout != tt.layout {
				t.Errorf("layout = %q, want %q", f.layout, tt.layout)
			}
		})
	}
}

func TestTimeFormatParse(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	want := time.Date(2024, 5, 1, 12, 30, 45, 0, time.UTC)
	wantFrac := time.Date(2024, 5, 1, 12, 30, 45, 250_000_000, time.UTC)
	tests := []struct {
		name    string
		format  string
		loc     *time.Location
		in      any
		want    time.Time
		wantErr string
	}{
		{name: "rfc3339", in: "2024-05-01T12:30:45Z", want: want},
		{name: "rfc3339 offset", in: "2024-05-01T14:30:45+02:00", want: want},
		{name: "rfc3339 fraction", in: "2024-05-01T12:30:45.25Z", want: wantFrac},
		{name: "rfc3339 space", in: "2024-05-01 12:30:45Z", want: want},
		{name: "rfc3339 lower case", in: "2024-05-01t12:30:45z", want: want},
		{name: "rfc3339 time value", in: want.In(berlin), want: want},
		{name: "rfc3339 bad", in: "yesterday", wantErr: `expected an RFC 3339 time, got string "yesterday"`},
		{name: "rfc3339 number hint", in: 1714566645.0, wantErr: "set format unix"},
		{name: "unix int", format: "unix", in: int64(1714566645), want: want},
		{name: "unix float", format: "unix", in: 1714566645.25, want: wantFrac},
		{name: "unix json.Number", format: "unix", in: json.Number("1714566645"), want: want},
		{name: "unix json.Number fraction", format: "unix", in: json.Number("1714566645.25"), want: wantFrac},
		{name: "unix string", format: "unix", in: " 1714566645 ", want: want},
		{name: "unix bad string", format: "unix", in: "soon", wantErr: `expected a Unix time in seconds, got string "soon"`},
		{name: "unix bool", format: "unix", in: true, wantErr: "expected a Unix time in seconds, got boolean true"},
		{name: "unix out of range", format: "unix", in: int64(1e15), wantErr: "out of range"},
		{name: "unix_ms", format: "unix_ms", in: int64(1714566645250), want: wantFrac},
		{name: "unix_ms float", format: "unix_ms", in: 1714566645250.0, want: wantFrac},
		{name: "unix_ms negative", format: "unix_ms", in: int64(-1500), want: time.Unix(-2, 500_000_000).UTC()},
		{name: "unix_us", format: "unix_us", in: json.Number("1714566645250000"), want: wantFrac},
		{name: "unix_ns", format: "unix_ns", in: "1714566645250000000", want: wantFrac},
		{name: "go layout", format: "2006-01-02 15:04:05", in: "2024-05-01 12:30:45", want: want},
		{name: "go layout zone", format: "2006-01-02 15:04:05", loc: berlin, in: "2024-05-01 14:30:45", want: want},
		{name: "strftime", format: "%d/%m/%Y %H:%M:%S", in: "01/05/2024 12:30:45", want: want},
		{name: "strftime fraction", format: "%Y-%m-%dT%H:%M:%S.%f", in: "2024-05-01T12:30:45.250000", want: wantFrac},
		{name: "layout mismatch", format: "%d/%m/%Y", in: "2024-05-01", wantErr: `expected a time in format "%d/%m/%Y", got string "2024-05-01"`},
		{name: "layout number", format: "%d/%m/%Y", in: 5.0, wantErr: "got number 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := parseFormat(tt.format, tt.loc, true)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse(%v) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("parse(%v) = %v, want %v in UTC", tt.in, got, tt.want)
			}
		})
	}
}

func TestTimeFormatFormat(t *testing.T) {
	t.Parallel()
	tm := time.Date(2024, 5, 1, 12, 30, 45, 250_000_000, time.UTC)
	tests := []struct {
		format string
		want   string
	}{
		{"", "2024-05-01T12:30:45.25Z"},
		{"unix", "1714566645"},
		{"unix_ms", "1714566645250"},
		{"unix_us", "1714566645250000"},
		{"unix_ns", "1714566645250000000"},
		{"%Y-%m-%d", "2024-05-01"},
		{"15:04", "12:30"},
	}
	for _, tt := range tests {
		f, err := parseFormat(tt.format, time.UTC, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.format(tm); got != tt.want {
			t.Errorf("format %q = %q, want %q", tt.format, got, tt.want)
		}
	}
}
