package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func testKeyBytes() []byte {
	b := make([]byte, KeySize)
	for i := range b {
		b[i] = byte(0xa0 + i)
	}
	return b
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := testKeyBytes()
	tests := []struct {
		name string
		in   string
	}{
		{"hex lower", hex.EncodeToString(raw)},
		{"hex upper", strings.ToUpper(hex.EncodeToString(raw))},
		{"base64 std", base64.StdEncoding.EncodeToString(raw)},
		{"base64 url", base64.URLEncoding.EncodeToString(raw)},
		{"base64 raw std", base64.RawStdEncoding.EncodeToString(raw)},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(raw)},
		{"surrounding white space", "  " + hex.EncodeToString(raw) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParseKey(tt.in)
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if !bytes.Equal(k[:], raw) {
				t.Errorf("key = %x, want %x", k[:], raw)
			}
		})
	}
}

func TestParseKeyBad(t *testing.T) {
	t.Parallel()
	raw := testKeyBytes()
	h := hex.EncodeToString(raw)
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"blank", " \n\t"},
		{"hex too short", h[:62]},
		{"hex odd length", h[:63]},
		{"hex too long", h + "ab"},
		{"not hex", "zz" + h[2:]},
		{"base64 of 31 bytes", base64.StdEncoding.EncodeToString(raw[:31])},
		{"base64 of 33 bytes", base64.StdEncoding.EncodeToString(append(raw, 1))},
		{"base64 with bad char", "*" + base64.StdEncoding.EncodeToString(raw)[1:]},
		{"all zero", strings.Repeat("0", 64)},
		{"passphrase", "correct horse battery staple"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParseKey(tt.in)
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey = %v; want ErrInvalidKey", err)
			}
			if k != (Key{}) {
				t.Error("ParseKey returned a non-zero key with an error")
			}
			if s := strings.TrimSpace(tt.in); len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Errorf("error %q echoes the input", err)
			}
		})
	}
}

func TestKeyHexRoundTrip(t *testing.T) {
	t.Parallel()
	k := GenerateKey()
	got, err := ParseKey(k.Hex())
	if err != nil || got != k {
		t.Fatalf("ParseKey(k.Hex()) = %v, %v", got, err)
	}
	if GenerateKey() == k {
		t.Error("GenerateKey returned the same key twice")
	}
}

func TestKeyRedacted(t *testing.T) {
	t.Parallel()
	k, err := ParseKey(hex.EncodeToString(testKeyBytes()))
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%08b", "%10.3v"} {
		outputs = append(outputs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k))
	}
	outputs = append(outputs, fmt.Sprintf("%v", struct{ K Key }{k}), fmt.Sprint(k), fmt.Sprintln(k))

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "key", k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "key", k)
	outputs = append(outputs, buf.String())

	j, err := json.Marshal(struct{ Key Key }{k})
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))

	leaks := []string{
		hex.EncodeToString(k[:4]), strings.ToUpper(hex.EncodeToString(k[:4])),
		"160 161", // the first bytes in decimal, as %d of an array prints them
		base64.StdEncoding.EncodeToString(k[:6]),
	}
	for _, out := range outputs {
		for _, leak := range leaks {
			if strings.Contains(out, leak) {
				t.Errorf("output %q contains key material %q", out, leak)
			}
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("output %q lacks the placeholder", out)
		}
	}
}
