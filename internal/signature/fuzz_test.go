package signature

import (
	"context"
	"testing"
	"time"
)

// FuzzVerifyParts feeds arbitrary webhook-id, webhook-timestamp and
// webhook-signature headers: verification never panics and never accepts
// a message that was not signed with the secret (the fuzzer does not know
// it), except the one signed in the seeds.
func FuzzVerifyParts(f *testing.F) {
	secret, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	v, err := NewVerifier(Config{Secrets: []Secret{secret}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("msg_1", "1700000000", "v1,AAAA", []byte(`{"a":1}`))
	f.Add("", "", "", []byte(nil))
	f.Add("msg_2", "-1", "v1, v1,=== v2,x v1a,", []byte(`x`))
	f.Add("msg_3", "99999999999999999999", "v1,"+string(make([]byte, 300)), []byte(`{}`))
	f.Add("msg\x00id", "1700000000", "v1,dGVzdA== v1,dGVzdA==", []byte(`[]`))
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte) {
		if err := v.VerifyParts(context.Background(), id, ts, sigs, body, now); err == nil {
			if !v.matches(id, ts, sigs, body) {
				t.Fatalf("accepted an unsigned message: id %q ts %q sigs %q", id, ts, sigs)
			}
			t.Fatalf("the fuzzer forged a signature: id %q ts %q sigs %q", id, ts, sigs)
		}
	})
}
