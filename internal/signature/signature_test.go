package signature

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The Standard Webhooks test vector, from the reference libraries' tests
// (libraries/go/webhook_test.go TestWebhookSign and its siblings in every
// language). Reproducing it is what proves interoperability: a round trip
// through our own verifier would pass with the delimiter, the base64
// alphabet or the key decoding all wrong.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var vectorTime = time.Unix(vectorTimestamp, 0)

func mustParse(t testing.TB, s string) Secret {
	t.Helper()
	sec, err := ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret(%q): %v", s, err)
	}
	return sec
}

func TestSignPublishedVector(t *testing.T) {
	t.Parallel()
	for _, in := range []string{vectorSecret, strings.TrimPrefix(vectorSecret, SecretPrefix)} {
		got := Sign(mustParse(t, in), vectorID, vectorTime, []byte(vectorBody))
		if got != vectorSignature {
			t.Errorf("Sign with secret %q = %q, want %q", in, got, vectorSignature)
		}
	}
	// Sub-second parts are not signed: the header carries whole seconds.
	got := Sign(mustParse(t, vectorSecret), vectorID, vectorTime.Add(999*time.Millisecond), []byte(vectorBody))
	if got != vectorSignature {
		t.Errorf("Sign ignoring sub-seconds = %q, want %q", got, vectorSignature)
	}
}

func TestVerifyPublishedVector(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(Config{Secrets: []Secret{mustParse(t, vectorSecret)}})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderID, vectorID)
	h.Set(HeaderTimestamp, strconv.Itoa(vectorTimestamp))
	h.Set(HeaderSignature, vectorSignature)
	if err := v.Verify(context.Background(), h, []byte(vectorBody), vectorTime); err != nil {
		t.Fatalf("Verify of the published vector: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	raw := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name, in string
		want     []byte // nil: expect ErrBadSecret
	}{
		{"prefixed", "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", raw},
		{"bare", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", raw},
		{"unpadded", "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", raw},
		{"surrounding space", " whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n", raw},
		{"empty", "", nil},
		{"prefix only", "whsec_", nil},
		{"not base64", "whsec_not base64!", nil},
		{"url alphabet", "whsec_-_-_", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSecret(tc.in)
			if tc.want == nil {
				if !errors.Is(err, ErrBadSecret) {
					t.Fatalf("ParseSecret(%q) error = %v, want ErrBadSecret", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret(%q): %v", tc.in, err)
			}
			if !bytes.Equal(s.key, tc.want) {
				t.Fatalf("key = %q, want %q", s.key, tc.want)
			}
		})
	}
}

func TestSecretRawAndEncode(t *testing.T) {
	t.Parallel()
	parsed := mustParse(t, vectorSecret)
	raw, err := NewSecret(parsed.key)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(raw, vectorID, vectorTime, []byte(vectorBody)); got != vectorSignature {
		t.Errorf("Sign with the raw key = %q, want %q", got, vectorSignature)
	}
	if got := parsed.Encode(); got != vectorSecret {
		t.Errorf("Encode = %q, want %q", got, vectorSecret)
	}
	if _, err := NewSecret(nil); !errors.Is(err, ErrBadSecret) {
		t.Errorf("NewSecret(nil) error = %v, want ErrBadSecret", err)
	}
	g1, g2 := GenerateSecret(), GenerateSecret()
	if len(g1.key) != 32 || bytes.Equal(g1.key, g2.key) {
		t.Errorf("GenerateSecret gave %d bytes, equal twice: %v", len(g1.key), bytes.Equal(g1.key, g2.key))
	}
	if back := mustParse(t, g1.Encode()); !bytes.Equal(back.key, g1.key) {
		t.Error("a generated secret does not survive Encode and ParseSecret")
	}
}

func TestSecretNeverFormatsItsKey(t *testing.T) {
	t.Parallel()
	s := mustParse(t, vectorSecret)
	key := strings.TrimPrefix(vectorSecret, SecretPrefix)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "secret", s)
	outs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s),
		fmt.Sprintf("%v", struct{ S Secret }{s}), fmt.Sprintf("%+v", []Secret{s}),
		logged.String(),
	}
	for _, out := range outs {
		if strings.Contains(out, key) || strings.Contains(out, "MfKQ") {
			t.Errorf("formatted secret leaks the key: %s", out)
		}
	}
}

// signed builds the three header values for body at ts.
type signed struct{ id, ts, sig string }

func sign(s Secret, id string, ts time.Time, body string) signed {
	return signed{id, strconv.FormatInt(ts.Unix(), 10), Sign(s, id, ts, []byte(body))}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := mustParse(t, vectorSecret)
	other := GenerateSecret()
	const tol = 5 * time.Minute
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body := `{"temperature": 21.5}`
	good := sign(secret, "msg_1", now, body)

	for _, tc := range []struct {
		name string
		msg  signed
		body string
		now  time.Time
		want error
	}{
		{"valid", good, body, now, nil},
		{"missing id", signed{"", good.ts, good.sig}, body, now, ErrMissingHeaders},
		{"missing timestamp", signed{good.id, "", good.sig}, body, now, ErrMissingHeaders},
		{"missing signature", signed{good.id, good.ts, ""}, body, now, ErrMissingHeaders},
		{"float timestamp", signed{good.id, good.ts + ".5", good.sig}, body, now, ErrBadTimestamp},
		{"signed timestamp", signed{good.id, "+" + good.ts, good.sig}, body, now, ErrBadTimestamp},
		{"negative timestamp", signed{good.id, "-1", good.sig}, body, now, ErrBadTimestamp},
		{"text timestamp", signed{good.id, "yesterday", good.sig}, body, now, ErrBadTimestamp},
		{"huge timestamp", signed{good.id, strings.Repeat("9", 40), good.sig}, body, now, ErrBadTimestamp},
		{"epoch timestamp", signed{good.id, "0", good.sig}, body, now, ErrTimestampTooOld},
		{"far-future timestamp", signed{good.id, strings.Repeat("9", 18), good.sig}, body, now, ErrTimestampTooNew},
		{"millisecond timestamp", signed{good.id, strconv.FormatInt(now.UnixMilli(), 10), good.sig}, body, now, ErrTimestampTooNew},

		{"exactly tolerance old", sign(secret, "m", now.Add(-tol), body), body, now, nil},
		{"exactly tolerance new", sign(secret, "m", now.Add(tol), body), body, now, nil},
		{"a second too old", sign(secret, "m", now.Add(-tol-time.Second), body), body, now, ErrTimestampTooOld},
		{"a second too new", sign(secret, "m", now.Add(tol+time.Second), body), body, now, ErrTimestampTooNew},
		{"too old by the clock's sub-second", sign(secret, "m", now.Add(-tol), body), body, now.Add(time.Millisecond), ErrTimestampTooOld},
		{"stale vector", sign(secret, vectorID, vectorTime, vectorBody), vectorBody, now, ErrTimestampTooOld},

		{"tampered body", good, `{"temperature": 99.9}`, now, ErrNoMatchingSignature},
		{"body with a trailing newline", good, body + "\n", now, ErrNoMatchingSignature},
		{"other id", signed{"msg_2", good.ts, good.sig}, body, now, ErrNoMatchingSignature},
		{"other timestamp", signed{good.id, strconv.FormatInt(now.Unix()+1, 10), good.sig}, body, now, ErrNoMatchingSignature},
		{"other secret", sign(other, "msg_1", now, body), body, now, ErrNoMatchingSignature},
		{"signature as v2", signed{good.id, good.ts, "v2" + strings.TrimPrefix(good.sig, "v1")}, body, now, ErrNoMatchingSignature},
		{"signature without version", signed{good.id, good.ts, strings.TrimPrefix(good.sig, "v1,")}, body, now, ErrNoMatchingSignature},
		{"truncated signature", signed{good.id, good.ts, good.sig[:len(good.sig)-4]}, body, now, ErrNoMatchingSignature},
		{"garbage entries", signed{good.id, good.ts, "v1 v1, v1,!!!! ,,, v1," + strings.Repeat("A", 400)}, body, now, ErrNoMatchingSignature},

		{"valid among several", signed{good.id, good.ts, strings.Join([]string{
			"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
			"v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
			"v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
			good.sig,
			"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
		}, " ")}, body, now, nil},
		{"extra spaces between entries", signed{good.id, good.ts, "  v1,bm9wZQ==   " + good.sig + "  "}, body, now, nil},
		{"only wrong ones among several", signed{good.id, good.ts, "v1,bm9wZQ== " + sign(other, "msg_1", now, body).sig}, body, now, ErrNoMatchingSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(Config{Secrets: []Secret{secret}, Tolerance: tol})
			if err != nil {
				t.Fatal(err)
			}
			err = v.VerifyParts(context.Background(), tc.msg.id, tc.msg.ts, tc.msg.sig, []byte(tc.body), tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("VerifyParts = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := GenerateSecret(), GenerateSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`[{"a":1}]`)

	// The sender signs with both keys during the rotation.
	h := http.Header{}
	SetHeaders(h, "msg_rot", now, body, oldKey, newKey)
	if got := strings.Count(h.Get(HeaderSignature), "v1,"); got != 2 {
		t.Fatalf("SetHeaders wrote %d signatures, want 2: %q", got, h.Get(HeaderSignature))
	}
	if h.Get(HeaderID) != "msg_rot" || h.Get(HeaderTimestamp) != "1800000000" {
		t.Fatalf("SetHeaders wrote id %q timestamp %q", h.Get(HeaderID), h.Get(HeaderTimestamp))
	}
	for name, keys := range map[string][]Secret{
		"receiver with the old key":  {oldKey},
		"receiver with the new key":  {newKey},
		"receiver with both keys":    {GenerateSecret(), newKey},
		"receiver with neither key":  {GenerateSecret()},
		"sender switched to the new": nil,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			keys, hdr := keys, h
			if keys == nil { // the receiver knows both, the sender now signs with the new key only
				keys = []Secret{oldKey, newKey}
				hdr = http.Header{}
				SetHeaders(hdr, "msg_rot", now, body, newKey)
			}
			v, err := NewVerifier(Config{Secrets: keys})
			if err != nil {
				t.Fatal(err)
			}
			err = v.Verify(context.Background(), hdr, body, now)
			wantErr := name == "receiver with neither key"
			if wantErr != errors.Is(err, ErrNoMatchingSignature) || (!wantErr && err != nil) {
				t.Fatalf("Verify = %v, want failure: %v", err, wantErr)
			}
		})
	}
}

func TestNewVerifierValidates(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no secrets":         {},
		"zero secret":        {Secrets: []Secret{{}}},
		"negative tolerance": {Secrets: []Secret{GenerateSecret()}, Tolerance: -time.Second},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier succeeded", name)
		}
	}
	v, err := NewVerifier(Config{Secrets: []Secret{GenerateSecret()}})
	if err != nil || v.Tolerance() != DefaultTolerance {
		t.Fatalf("default tolerance = %v (err %v), want %v", v.Tolerance(), err, DefaultTolerance)
	}
}

func TestVerifyReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secret := GenerateSecret()
	const tol = time.Minute
	now := time.Unix(1_800_000_000, 0)
	body := `{"n":1}`
	guard := NewMemoryGuard(0)
	newVerifier := func(scope string) *Verifier {
		v, err := NewVerifier(Config{Secrets: []Secret{secret}, Tolerance: tol, Replay: guard, ReplayScope: scope})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v, otherPipeline := newVerifier("pipeline-a"), newVerifier("pipeline-b")
	msg := sign(secret, "msg_1", now, body)
	verify := func(v *Verifier, m signed, b string, at time.Time) error {
		return v.VerifyParts(ctx, m.id, m.ts, m.sig, []byte(b), at)
	}

	// A forged message with the id does not burn it.
	if err := verify(v, signed{msg.id, msg.ts, "v1,bm9wZQ=="}, body, now); !errors.Is(err, ErrNoMatchingSignature) {
		t.Fatalf("forged: %v", err)
	}
	if err := verify(v, msg, body, now); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if err := verify(v, msg, body, now.Add(30*time.Second)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v, want ErrReplayed", err)
	}
	// A retry by the sender has the same id and a fresh timestamp: a
	// duplicate, rejected too.
	if err := verify(v, sign(secret, "msg_1", now.Add(10*time.Second), body), body, now.Add(10*time.Second)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("retry with the same id: %v, want ErrReplayed", err)
	}
	// Another pipeline sharing the guard has its own ids.
	if err := verify(otherPipeline, msg, body, now); err != nil {
		t.Fatalf("same id in another scope: %v", err)
	}
	// Processing failed: the id is released so the retry gets through.
	if err := v.Forget(ctx, "msg_1"); err != nil {
		t.Fatal(err)
	}
	if err := verify(v, msg, body, now.Add(time.Second)); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
	// Once the message is too old it fails on its timestamp, and the guard
	// lets go of the id.
	late := now.Add(tol + time.Second)
	if err := verify(v, msg, body, late); !errors.Is(err, ErrTimestampTooOld) {
		t.Fatalf("late replay: %v, want ErrTimestampTooOld", err)
	}
	if err := verify(v, sign(secret, "msg_2", late, body), body, late); err != nil {
		t.Fatal(err)
	}
	if got := guard.Len(); got != 1 {
		t.Fatalf("guard holds %d ids after expiry, want 1 (msg_2)", got)
	}
}

type failingGuard struct{ err error }

func (g failingGuard) Seen(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, g.err
}
func (g failingGuard) Forget(context.Context, string) error { return g.err }

func TestVerifyGuardErrorIsNotASenderError(t *testing.T) {
	t.Parallel()
	down := errors.New("store is down")
	secret := GenerateSecret()
	v, err := NewVerifier(Config{Secrets: []Secret{secret}, Replay: failingGuard{down}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := sign(secret, "msg_1", now, "{}")
	err = v.VerifyParts(context.Background(), m.id, m.ts, m.sig, []byte("{}"), now)
	if !errors.Is(err, down) {
		t.Fatalf("VerifyParts = %v, want the guard's error", err)
	}
	for _, s := range []error{ErrMissingHeaders, ErrBadTimestamp, ErrTimestampTooOld, ErrTimestampTooNew, ErrNoMatchingSignature, ErrReplayed} {
		if errors.Is(err, s) {
			t.Fatalf("guard failure reported as %v", s)
		}
	}
	if err := v.Forget(context.Background(), "msg_1"); !errors.Is(err, down) {
		t.Fatalf("Forget = %v", err)
	}
}

func TestMemoryGuardBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Unix(1000, 0)
	g := NewMemoryGuard(3)
	for i, exp := range []int{50, 10, 40, 30} { // the fourth evicts the one expiring first ("k1")
		seen, _ := g.Seen(ctx, fmt.Sprintf("k%d", i), now, now.Add(time.Duration(exp)*time.Second))
		if seen {
			t.Fatalf("k%d seen on first sight", i)
		}
	}
	if g.Len() != 3 {
		t.Fatalf("Len = %d, want 3", g.Len())
	}
	for _, c := range []struct {
		key  string
		want bool
	}{{"k0", true}, {"k2", true}, {"k3", true}, {"k1", false}} { // in order: Seen of an unseen key records it
		if seen, _ := g.Seen(ctx, c.key, now, now.Add(time.Minute)); seen != c.want {
			t.Errorf("Seen(%s) = %v, want %v", c.key, seen, c.want)
		}
	}
	// Expiry is inclusive: at the expiry instant the id is still held.
	g = NewMemoryGuard(10)
	g.Seen(ctx, "x", now, now.Add(time.Minute))
	if seen, _ := g.Seen(ctx, "x", now.Add(time.Minute), now.Add(2*time.Minute)); !seen {
		t.Error("id forgotten at its expiry instant")
	}
	if seen, _ := g.Seen(ctx, "x", now.Add(time.Minute+time.Nanosecond), now.Add(2*time.Minute)); seen {
		t.Error("id still held after its expiry")
	}
	// Forget then record again with the same expiry: the stale queue item
	// of the first recording must not remove the second.
	g = NewMemoryGuard(10)
	exp := now.Add(time.Minute)
	g.Seen(ctx, "y", now, exp)
	g.Forget(ctx, "y")
	g.Seen(ctx, "y", now, exp)
	g.Seen(ctx, "z", now.Add(30*time.Second), now.Add(2*time.Minute))
	if seen, _ := g.Seen(ctx, "y", now.Add(30*time.Second), exp); !seen {
		t.Error("re-recorded id lost")
	}
}

func TestMemoryGuardConcurrent(t *testing.T) {
	t.Parallel()
	g := NewMemoryGuard(1000)
	now := time.Unix(1000, 0)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := strconv.Itoa(i % 500)
				seen, _ := g.Seen(context.Background(), key, now, now.Add(time.Hour))
				if !seen {
					accepted.Add(1)
				}
				if w == 0 && i%100 == 0 {
					g.Len()
				}
			}
		})
	}
	wg.Wait()
	if got := accepted.Load(); got != 500 {
		t.Fatalf("%d first sightings of 500 keys", got)
	}
}

func BenchmarkVerify(b *testing.B) {
	secret := GenerateSecret()
	body := bytes.Repeat([]byte(`{"field":"value","n":12345},`), 40) // ~1 KiB
	now := time.Now()
	m := sign(secret, "msg_1", now, string(body))
	v, err := NewVerifier(Config{Secrets: []Secret{secret}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.VerifyParts(context.Background(), m.id, m.ts, m.sig, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
