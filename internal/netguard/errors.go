package netguard

import "errors"

var (
	// ErrForbidden is wrapped by every refusal of a destination: a denied
	// address class, a scheme other than http or https, an ambiguous IP
	// spelling, or a redirect from https to http. The wrapping error's text
	// says which, in one sentence a user can act on, for example
	// "destination 127.0.0.1 is a loopback address; allow it with
	// TRIBUTARY_ALLOW_NETWORKS".
	ErrForbidden = errors.New("netguard: destination forbidden")

	// ErrResponseTooLarge is returned by the body of a response fetched
	// through a [Guard] once it yields more than Config.MaxResponseBytes
	// (counted after transparent gzip decoding), or at the first read if the
	// declared Content-Length is already larger.
	ErrResponseTooLarge = errors.New("netguard: response body too large")

	// ErrTooManyRedirects is wrapped by the error of a request that was
	// redirected more than Config.MaxRedirects times.
	ErrTooManyRedirects = errors.New("netguard: too many redirects")
)

// forbiddenError is a refusal with a readable reason; it matches
// ErrForbidden with errors.Is but prints only the reason.
type forbiddenError struct{ reason string }

func (e *forbiddenError) Error() string { return e.reason }
func (e *forbiddenError) Unwrap() error { return ErrForbidden }

func forbidden(reason string) error { return &forbiddenError{reason: reason} }
