// Package blobstore opens Tributary's object storage: where uploaded
// files (and, later, file sinks and archives) live. It is a thin layer
// over gocloud.dev/blob that registers the drivers Tributary supports and
// gives the default, a directory in the data directory.
//
// URLs:
//
//	file:///var/lib/tributary/blobs        a local directory (the default: DATA_DIR/blobs)
//	s3://bucket?region=eu-central-1         AWS S3; credentials from the environment
//	s3://bucket?endpoint=https://…&use_path_style=true&region=auto
//	                                        R2, MinIO and other S3-compatible stores
//	mem://                                  in memory, for tests
//
// The query parameters of s3:// URLs are gocloud.dev's (endpoint,
// region, use_path_style, disable_https, anonymous, profile, …).
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file://
	_ "gocloud.dev/blob/memblob"  // mem://
	_ "gocloud.dev/blob/s3blob"   // s3://
	"gocloud.dev/gcerrors"
)

// DefaultURL is the URL of the default bucket: the directory blobs in
// dataDir, created when missing, with temporary files written next to
// their final place (so that a rename never crosses file systems).
func DefaultURL(dataDir string) (string, error) {
	dir, err := filepath.Abs(filepath.Join(dataDir, "blobs"))
	if err != nil {
		return "", fmt.Errorf("blob storage directory: %w", err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(dir), RawQuery: "create_dir=true&no_tmp_dir=true&dir_file_mode=0700"}
	return u.String(), nil
}

// CheckURL reports a URL that cannot name a bucket, without opening it.
// Its errors never quote the URL, which may carry credentials.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch u.Scheme {
	case "file", "s3", "mem":
	default:
		return fmt.Errorf("scheme %q is not supported: use file://, s3:// or mem://", u.Scheme)
	}
	if u.Scheme == "s3" && u.Host == "" {
		return errors.New("an s3:// URL names the bucket as its host, such as s3://my-bucket?region=eu-central-1")
	}
	return nil
}

// Open opens the bucket at raw (see the package doc).
func Open(ctx context.Context, raw string) (*blob.Bucket, error) {
	if err := CheckURL(raw); err != nil {
		return nil, fmt.Errorf("blob storage URL: %w", err)
	}
	b, err := blob.OpenBucket(ctx, raw)
	if err != nil {
		// gocloud's message may quote the URL; keep the driver's reason only.
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return nil, fmt.Errorf("open blob storage: %s", msg)
	}
	return b, nil
}

// IsNotFound reports whether err means a blob does not exist.
func IsNotFound(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }
