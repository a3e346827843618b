package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks specification.
const (
	// HeaderID carries the message id; it stays the same across retries.
	HeaderID = "webhook-id"
	// HeaderTimestamp carries the attempt's time in Unix seconds.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature carries a space-separated list of "version,base64"
	// signatures.
	HeaderSignature = "webhook-signature"
)

// versionV1 identifies an HMAC-SHA256 signature.
const versionV1 = "v1"

// Sign returns the signature of one message, "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>", ready for the webhook-signature header. Only the
// whole seconds of ts are signed.
func Sign(secret Secret, msgID string, ts time.Time, body []byte) string {
	mac := sum(secret, msgID, strconv.FormatInt(ts.Unix(), 10), body)
	out := make([]byte, 0, len(versionV1)+1+base64.StdEncoding.EncodedLen(len(mac)))
	out = append(out, versionV1...)
	out = append(out, ',')
	out = base64.StdEncoding.AppendEncode(out, mac)
	return string(out)
}

// SetHeaders sets the three Standard Webhooks headers of one delivery on
// h, signed with every secret given: several during a key rotation, so
// the receiver accepts the message with either key.
func SetHeaders(h http.Header, msgID string, ts time.Time, body []byte, secrets ...Secret) {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = Sign(s, msgID, ts, body)
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
}

// sum computes the raw HMAC-SHA256 of "id.timestamp.body" without copying
// the body.
func sum(secret Secret, msgID, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret.key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(make([]byte, 0, sha256.Size))
}
