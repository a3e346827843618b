// Package secrets seals team credentials (API keys, passwords, HMAC keys) for
// storage at rest, and loads the master key they are sealed with.
//
// # What it owns
//
// It owns two things. The first is the master [Key]: 32 random bytes given in
// config (hex or base64, see [ParseKey]) or kept in a key file in the data
// directory that is created on first start ([LoadOrCreateKeyFile]). The second
// is the sealed format that [Box.Seal] produces and [Box.Open] reads:
//
//	version (1 byte, 0x01) || nonce (12 random bytes) || AES-256-GCM ciphertext || tag (16 bytes)
//
// The additional data is the version byte, the team id and the secret id (16
// bytes each), so a sealed value copied to another team's row or to another
// secret's row does not open. The version byte leaves room for a later format
// (for example one that names the key, for key rotation). To the store a
// sealed value is opaque bytes.
//
// # What it guarantees
//
//   - A sealed value opens only with the same key, team id and secret id; any
//     change to any byte of it fails with [ErrCannotOpen]. The nil UUID is
//     refused as either id.
//   - Errors never contain plaintext or key material. [Key] redacts itself
//     when formatted with fmt or slog.
//   - Nonces are random. With 96-bit random nonces one key must not seal more
//     than 2^32 values; team credentials are written by people, many orders of
//     magnitude below that.
//
// # The key file and its permissions
//
// [LoadOrCreateKeyFile] creates the file with mode 0600 and never replaces an
// existing one: the file appears under its final name only once its content is
// complete (a temporary file hard-linked into place), so concurrent starters
// agree on one key. The directory must already exist.
//
// A key file that group or others may read or write is not refused, because
// the usual ways of mounting a secret (Kubernetes secret volumes, Docker
// secrets) produce mode 0644 or 0444 files. Instead, [LoadKeyFile] and
// [LoadOrCreateKeyFile] return the key together with an error that wraps
// [ErrKeyFilePermissions]. A caller that checks only err != nil therefore
// fails closed; the application logs that error as a warning and carries on:
//
//	key, err := secrets.LoadKeyFile(path)
//	if errors.Is(err, secrets.ErrKeyFilePermissions) {
//		logger.Warn("insecure key file", "err", err)
//	} else if err != nil {
//		return err
//	}
//
// Losing the key means losing every sealed secret: operators back it up apart
// from the database.
package secrets
