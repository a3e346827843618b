// Package auth holds the credential primitives of Tributary: roles, password
// hashing, API tokens, session ids and webhook URL tokens. It knows no HTTP
// and no database; the store persists what it produces and the HTTP layer
// calls it to check what a client presents.
//
// # Roles
//
// A member of a team, and an API token, has one [Role]; roles are ordered
// [Owner] > [Admin] > [Editor] > [Viewer], and a permission check is
// role.AtLeast(required).
//
// # Passwords
//
// [HashPassword] produces an argon2id hash in the PHC string format
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// (salt and hash in unpadded standard base64). [VerifyPassword] reads the
// parameters from the string, so the parameters for new hashes can change
// without invalidating old ones; after a successful login, [NeedsRehash] says
// whether to store a new hash. [ValidatePassword] is the policy for a new
// password. A login for an unknown user calls [VerifyDummy], which costs the
// same as a real verification, so response times do not reveal which users
// exist.
//
// Each hash or verification allocates 19 MiB and takes a few tens of
// milliseconds of one core, so callers must rate-limit login attempts: a
// burst of them must not be able to exhaust memory.
//
// # Tokens
//
// Three kinds of random credential, all from crypto/rand:
//
//   - API tokens ([NewToken]): "trb_" + 43 base62 characters (256 bits) + a
//     6-character CRC32 checksum. The prefix lets secret scanners find leaked
//     tokens, the checksum lets [LooksLikeToken] reject typos and junk
//     without a database query. Only [HashToken] (SHA-256) is stored, with
//     [TokenHint] for display; the plaintext is shown once.
//   - Session ids ([NewSessionID]): 43 base64url characters (256 bits) for a
//     cookie, stored only as [HashSessionID], so a copy of the database does
//     not hold live sessions.
//   - Webhook URL tokens ([NewURLToken]): 32 base64url characters (192
//     bits), the unguessable part of a pipeline's ingest URL.
//
// An unsalted SHA-256 is the right hash for tokens and session ids, unlike for
// passwords: they carry 256 bits of entropy, so there is nothing to guess,
// and a plain hash can be looked up by equality on an index. Looking a hash up
// leaks nothing useful by timing, since the attacker does not control it.
package auth
