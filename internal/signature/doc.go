// Package signature signs and verifies webhooks the Standard Webhooks way
// (standardwebhooks.com): an HMAC-SHA256 over "{id}.{timestamp}.{body}",
// sent as "v1,<base64>" in the webhook-signature header beside webhook-id
// and webhook-timestamp.
//
// Webhook ingest verifies what senders POST with a Verifier; the HTTP sink
// signs what it delivers with Sign or SetHeaders. Both sides share one
// implementation so that what Tributary sends, Tributary (and every other
// Standard Webhooks library) accepts.
//
// Guarantees:
//   - Secrets are parsed from the "whsec_" + base64 form (or given as raw
//     bytes) and never printed: a Secret formats as "whsec_[redacted]".
//   - Verify checks, in order: the three headers are present, the timestamp
//     is an integer within the tolerance of now (both directions, default 5
//     minutes), some "v1" entry of the signature header matches one of the
//     verifier's secrets (compared in constant time; other versions such as
//     "v1a" are ignored), and, with a ReplayGuard, that the id was not seen
//     before. An id is recorded only after its signature verified, so
//     unsigned traffic cannot fill the guard or block a real id.
//   - Every verification failure is one of the sentinel errors in errors.go,
//     so the HTTP boundary can answer 401 for all of them; only an error of
//     the ReplayGuard itself (a store being down) is anything else.
package signature
