// Package ingest accepts webhook requests: one call, Service.Accept, takes
// the token of a webhook URL, the request's headers and its body, and
// returns once the records are durable.
//
// A request goes:
//
//	token → pipeline (cached briefly)          ErrUnknownToken, ErrPaused, ErrMisconfigured
//	the team's rate limit                       *RateLimitedError
//	the team's requests in progress ≤ MaxInFlight *BusyError
//	read body ≤ max_body_bytes, gunzip ≤ it
//	and ≤ MaxGzipRatio × the body as sent       *TooLargeError, *UnsupportedEncodingError, *BadEncodingError
//	Standard Webhooks signature, when the
//	pipeline has a signing secret               *SignatureError
//	decode JSON / array / NDJSON (decode.go),
//	at most max_records records                 *BadJSONError, *TooManyRecordsError
//	engine.ProcessFor (map, validate) in the caller's goroutine, in the team's fair CPU share
//	engine.Submit: group commit, returns once the transaction committed
//
// An unsigned request is decoded as it is read (body.go's readers feed
// decode.go's streaming decoder, which stops at the record limit), so that
// what a request holds is its records, not its body; a signed one is read
// whole (at most max_body_bytes) before its signature is checked and it is
// decoded. Either way a request holds at most max_records decoded records.
//
// Failures of a part ingest depends on (the store, the engine) are
// *UnavailableError: the sender should retry shortly. Nothing of a refused
// request is stored.
//
// Replay protection is durable and per pipeline: the webhook-id of a signed
// request is stored with its records, in the batch's transaction
// (engine.SubmitOnce), until the signature's tolerance window ends. A
// request whose id the pipeline already stored, with a valid signature, is
// not refused: Accept returns a Result with AlreadyReceived set and stores
// nothing (a sender retrying after a lost answer learns that its message
// arrived). A request that fails keeps no id, so its retry is accepted.
//
// The token cache keeps a resolved token (pipeline, compiled spec,
// signature verifier), keyed by the token's hash, for a short TTL, so that a burst of requests costs
// one lookup, one compile and one secret opening. Changes made through this
// process must forget the entries they affect (ForgetPipeline,
// ForgetTeam); changes made through another node take effect within the
// TTL.
//
// The package knows the webhook protocol's headers (Content-Type,
// Content-Encoding, Content-Length and the webhook-* signature headers) but
// nothing else of HTTP: the transport maps the errors of errors.go to
// status codes.
package ingest
