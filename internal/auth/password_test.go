package auth

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// cheapParams keep tests that only need some valid hash fast.
var cheapParams = argonParams{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{
		"correct horse battery staple",
		"ünïcödé-pässwörd-🔑",
		"exactly10c",
		strings.Repeat("x", MaxPasswordBytes),
	} {
		encoded, err := HashPassword(pw)
		if err != nil {
			t.Fatalf("HashPassword: %v", err)
		}
		if !phcPattern.MatchString(encoded) {
			t.Errorf("hash %q is not in the expected PHC form", encoded)
		}
		if strings.Contains(encoded, pw) {
			t.Error("hash contains the password")
		}
		ok, err := VerifyPassword(pw, encoded)
		if err != nil || !ok {
			t.Errorf("VerifyPassword(right password) = %v, %v", ok, err)
		}
		if NeedsRehash(encoded) {
			t.Error("NeedsRehash of a fresh hash = true")
		}
	}
}

func TestVerifyPasswordWrong(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	encoded, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []string{"", "correct horse battery stapl", pw + " ", strings.ToUpper(pw), pw + strings.Repeat("x", MaxPasswordBytes)} {
		ok, err := VerifyPassword(wrong, encoded)
		if ok || err != nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, nil", wrong, ok, err)
		}
	}
}

func TestHashPasswordSalted(t *testing.T) {
	t.Parallel()
	a, err := HashPassword("same password")
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("same password")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two hashes of one password are equal: no random salt")
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", strings.Repeat("x", MaxPasswordBytes+1)} {
		if _, err := HashPassword(pw); !errors.Is(err, ErrPasswordPolicy) {
			t.Errorf("HashPassword(%d bytes) err = %v, want ErrPasswordPolicy", len(pw), err)
		}
	}
}

func TestVerifyPasswordOtherParams(t *testing.T) {
	t.Parallel()
	// Hashes made with earlier (or later) parameters keep verifying, and are
	// reported for rehashing.
	const pw = "an older password"
	for _, p := range []argonParams{
		cheapParams,
		{memory: 1024, time: 3, threads: 2, saltLen: 8, keyLen: 16},
		{memory: defaultParams.memory, time: defaultParams.time, threads: 1, saltLen: 32, keyLen: 32},
		{memory: defaultParams.memory, time: defaultParams.time, threads: 1, saltLen: 16, keyLen: 64},
	} {
		encoded := hashWith(pw, p)
		ok, err := VerifyPassword(pw, encoded)
		if err != nil || !ok {
			t.Errorf("%+v: VerifyPassword = %v, %v", p, ok, err)
		}
		if ok, _ := VerifyPassword("not it at all", encoded); ok {
			t.Errorf("%+v: wrong password verified", p)
		}
		if !NeedsRehash(encoded) {
			t.Errorf("%+v: NeedsRehash = false", p)
		}
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	t.Parallel()
	good := hashWith("password123", cheapParams)
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, hash
	salt, key := parts[4], parts[5]
	with := func(params string) string {
		return "$argon2id$v=19$" + params + "$" + salt + "$" + key
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"plain text", "password123"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"argon2d", strings.Replace(good, "argon2id", "argon2d", 1)},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1)},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", good + "$abc"},
		{"no leading $", good[1:]},
		{"trailing $", good + "$"},
		{"params out of order", with("t=1,m=64,p=1")},
		{"params missing", with("m=64,t=1")},
		{"params extra", with("m=64,t=1,p=1,k=1")},
		{"param not a number", with("m=sixty,t=1,p=1")},
		{"param negative", with("m=64,t=-1,p=1")},
		{"param signed", with("m=+64,t=1,p=1")},
		{"param leading zero", with("m=064,t=1,p=1")},
		{"param empty", with("m=,t=1,p=1")},
		{"param overflow", with("m=99999999999999999999,t=1,p=1")},
		{"t zero", with("m=64,t=0,p=1")},
		{"t huge", with("m=64,t=4294967295,p=1")},
		{"p zero", with("m=64,t=1,p=0")},
		{"p too large for uint8", with("m=4096,t=1,p=256")},
		{"m below 8 per thread", with("m=8,t=1,p=2")},
		{"m huge", with("m=4294967295,t=1,p=1")},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$%%%%%%%%%%%%$" + key},
		{"salt padded", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key},
		{"hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA"},
		{"hash too long", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + key + key},
		{"hash not canonical base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, err := VerifyPassword("password123", tt.encoded)
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("VerifyPassword = %v, %v; want false, ErrMalformedHash", ok, err)
			}
			if len(tt.encoded) > 20 && strings.Contains(err.Error(), tt.encoded) {
				t.Errorf("error %q quotes the hash", err)
			}
			if !NeedsRehash(tt.encoded) {
				t.Error("NeedsRehash = false")
			}
		})
	}
}

func TestVerifyPasswordTamperedHash(t *testing.T) {
	t.Parallel()
	// Changing the salt, the hash or a parameter, while keeping the string
	// well-formed, makes the right password fail without an error.
	const pw = "password123"
	good := hashWith(pw, cheapParams)
	parts := strings.Split(good, "$")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tampered := []string{
		strings.Join([]string{"", parts[1], parts[2], parts[3], flip(parts[4], 0), parts[5]}, "$"),
		strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], flip(parts[5], 0)}, "$"),
		strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], flip(parts[5], 20)}, "$"),
		strings.Join([]string{"", parts[1], parts[2], "m=64,t=2,p=1", parts[4], parts[5]}, "$"),
		strings.Join([]string{"", parts[1], parts[2], "m=72,t=1,p=1", parts[4], parts[5]}, "$"),
	}
	for _, encoded := range tampered {
		ok, err := VerifyPassword(pw, encoded)
		if ok || err != nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, nil", encoded, ok, err)
		}
	}
	if ok, err := VerifyPassword(pw, good); !ok || err != nil {
		t.Errorf("untampered: %v, %v", ok, err)
	}
}

func TestVerifyDummy(t *testing.T) {
	t.Parallel()
	// The dummy must cost what a real verification costs: it uses the
	// current parameters and is well-formed.
	p, _, _, err := decodeHash(dummyHash)
	if err != nil {
		t.Fatalf("dummy hash: %v", err)
	}
	if p != defaultParams {
		t.Errorf("dummy hash parameters %+v, want %+v", p, defaultParams)
	}
	if NeedsRehash(dummyHash) {
		t.Error("dummy hash needs rehash")
	}
	VerifyDummy("any password")
	VerifyDummy("")
	if ok, err := VerifyPassword("any password", dummyHash); ok || err != nil {
		t.Errorf("VerifyPassword(dummy) = %v, %v", ok, err)
	}
}

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pw      string
		wantMsg string // "" means valid
	}{
		{"ten ascii", "abcdefghij", ""},
		{"passphrase", "correct horse battery staple", ""},
		{"ten runes of multibyte", "ääääääääää", ""},
		{"spaces count", "          ", ""},
		{"max bytes", strings.Repeat("a", MaxPasswordBytes), ""},
		{"empty", "", "at least 10 characters"},
		{"nine", "abcdefghi", "at least 10 characters"},
		{"nine runes, many bytes", "🔑🔑🔑🔑🔑🔑🔑🔑🔑", "at least 10 characters"},
		{"too long", strings.Repeat("a", MaxPasswordBytes+1), "at most 256 bytes"},
		{"too long multibyte", strings.Repeat("ä", MaxPasswordBytes/2+1), "at most 256 bytes"},
		{"invalid utf8", "abcdefghij\xff", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidatePassword(tt.pw)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidatePassword = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrPasswordPolicy) {
				t.Fatalf("ValidatePassword = %v, want ErrPasswordPolicy", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if len(tt.pw) >= 4 && strings.Contains(err.Error(), tt.pw) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func BenchmarkHashPassword(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	encoded, err := HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := VerifyPassword("correct horse battery staple", encoded); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
