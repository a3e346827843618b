package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

var tokenPattern = regexp.MustCompile(`^trb_[0-9A-Za-z]{49}$`)

func TestNewToken(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		tok, hash := NewToken()
		if !tokenPattern.MatchString(tok) {
			t.Fatalf("token %q has the wrong form", tok)
		}
		if !LooksLikeToken(tok) {
			t.Fatalf("LooksLikeToken(%q) = false", tok)
		}
		want := sha256.Sum256([]byte(tok))
		if !bytes.Equal(hash, want[:]) || !bytes.Equal(HashToken(tok), hash) {
			t.Fatal("hash is not the SHA-256 of the token")
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
}

func TestRandomBase62Uniform(t *testing.T) {
	t.Parallel()
	// Every character of the alphabet turns up, at about the same rate. With
	// 62,000 draws each count has mean 1000 and standard deviation ~31; the
	// bounds are over 10 deviations wide, so the test does not flake.
	counts := map[rune]int{}
	for _, c := range randomBase62(62000) {
		counts[c]++
	}
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n < 650 || n > 1350 {
			t.Errorf("character %q drawn %d times, want about 1000", c, n)
		}
	}
}

func TestLooksLikeToken(t *testing.T) {
	t.Parallel()
	tok, _ := NewToken()
	body := tok[len(TokenPrefix):]
	mutate := func(i int) string {
		b := []byte(tok)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	bad := []string{
		"",
		"trb_",
		TokenPrefix + body[:len(body)-1],
		tok + "a",
		"TRB_" + body,
		"trx_" + body,
		strings.Replace(tok, tok[10:11], "-", 1),
		tok[:20] + "é" + tok[22:],
		mutate(len(TokenPrefix)),      // first random character
		mutate(len(TokenPrefix) + 20), // a middle one
		mutate(len(tok) - 1),          // the checksum
		" " + tok[:len(tok)-1],
	}
	for _, s := range bad {
		if LooksLikeToken(s) {
			t.Errorf("LooksLikeToken(%q) = true", s)
		}
	}
}

func TestTokenHint(t *testing.T) {
	t.Parallel()
	tok, _ := NewToken()
	hint := TokenHint(tok)
	if want := tok[:8] + "…"; hint != want {
		t.Errorf("TokenHint = %q, want %q", hint, want)
	}
	for _, s := range []string{"", "trb_", "trb_abcdefgh", "secret-password-not-a-token", tok + "x"} {
		if h := TokenHint(s); h != "" {
			t.Errorf("TokenHint(%q) = %q, want empty", s, h)
		}
	}
}

func TestHashTokenDistinct(t *testing.T) {
	t.Parallel()
	a, _ := NewToken()
	b, _ := NewToken()
	if bytes.Equal(HashToken(a), HashToken(b)) {
		t.Error("two tokens hash alike")
	}
	if len(HashToken("")) != sha256.Size {
		t.Error("hash has the wrong size")
	}
}

func TestNewSessionID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id, hash := NewSessionID()
		if len(id) != 43 || strings.ContainsAny(id, "+/=") {
			t.Fatalf("session id %q is not 43 base64url characters", id)
		}
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != 32 {
			t.Fatalf("session id %q does not decode to 32 bytes: %v", id, err)
		}
		if !LooksLikeSessionID(id) {
			t.Fatalf("LooksLikeSessionID(%q) = false", id)
		}
		want := sha256.Sum256([]byte(id))
		if !bytes.Equal(hash, want[:]) || !bytes.Equal(HashSessionID(id), hash) {
			t.Fatal("hash is not the SHA-256 of the session id")
		}
		if LooksLikeToken(id) {
			t.Fatalf("session id %q looks like an API token", id)
		}
		if seen[id] {
			t.Fatalf("session id %q repeated", id)
		}
		seen[id] = true
	}
}

func TestLooksLikeSessionID(t *testing.T) {
	t.Parallel()
	id, _ := NewSessionID()
	tok, _ := NewToken()
	bad := []string{
		"",
		id[:42],
		id + "A",
		id[:42] + "=",
		id[:10] + "+" + id[11:],
		id[:10] + "/" + id[11:],
		id[:10] + "." + id[11:],
		tok,
		strings.Repeat("é", 21) + "a",
	}
	for _, s := range bad {
		if LooksLikeSessionID(s) {
			t.Errorf("LooksLikeSessionID(%q) = true", s)
		}
	}
}

func TestNewURLToken(t *testing.T) {
	t.Parallel()
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]{32}$`)
	seen := map[string]bool{}
	for range 1000 {
		tok := NewURLToken()
		if !urlSafe.MatchString(tok) {
			t.Fatalf("URL token %q is not 32 URL-safe characters", tok)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw)*8 < 128 {
			t.Fatalf("URL token %q carries %d bits", tok, len(raw)*8)
		}
		if seen[tok] {
			t.Fatalf("URL token %q repeated", tok)
		}
		seen[tok] = true
	}
}
