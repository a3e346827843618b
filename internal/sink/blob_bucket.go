package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/tributary-dev/tributary/internal/netguard"
)

func openBlob(ctx context.Context, teamID uuid.UUID, p blobParams, cfg BlobConfig, deps Deps) (*blobSink, error) {
	s := &blobSink{
		p:        p,
		instance: blobInstanceID(8),
		log:      cfg.Logger,
		now:      cfg.now,
		tick:     cfg.tick,
		adopt:    cfg.adoptAfter,
		sweepGap: cfg.sweepEvery,
		manual:   cfg.manual,
		own:      map[string]*ownWindow{},
		scopes:   map[string]bool{},
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.tick == 0 {
		s.tick = min(max(p.roll/4, 5*time.Second), time.Minute)
	}
	if s.adopt == 0 {
		s.adopt = 10 * time.Minute
	}
	if s.sweepGap == 0 {
		s.sweepGap = 5 * time.Minute
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())

	switch p.scheme {
	case "file":
		root, err := filepath.Abs(cfg.FileRoot)
		if err != nil {
			return nil, fmt.Errorf("blob: file root: %w", err)
		}
		s.fileDir = filepath.Join(root, teamID.String())
		b, err := fileblob.OpenBucket(s.fileDir, &fileblob.Options{
			CreateDir:   true,
			DirFileMode: 0o750,
			// Temporary files next to their target, so the final rename
			// never crosses file systems.
			NoTempDir: true,
			Metadata:  fileblob.MetadataDontWrite,
		})
		if err != nil {
			return nil, fmt.Errorf("blob: open directory: %w", err)
		}
		s.bucket = b
	case "s3":
		if deps.HTTPClient == nil {
			return nil, errors.New("blob: no SSRF-safe HTTP client to reach S3 with")
		}
		if deps.Secret == nil {
			return nil, errors.New("blob: no secret store to read the S3 credentials from")
		}
		creds := aws.NewCredentialsCache(s3Credentials(teamID, p, deps))
		opts := s3.Options{
			Region:                     p.region,
			Credentials:                creds,
			HTTPClient:                 deps.HTTPClient,
			UsePathStyle:               p.pathStyle,
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
			ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		}
		if p.endpoint != "" {
			opts.BaseEndpoint = aws.String(p.endpoint)
		}
		b, err := s3blob.OpenBucket(ctx, s3.New(opts), p.bucket, &s3blob.Options{
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		})
		if err != nil {
			return nil, fmt.Errorf("blob: open bucket: %w", err)
		}
		s.bucket = b
	}
	return s, nil
}

// s3Credentials reads the credentials from the team's secrets, again every
// few minutes (through aws.CredentialsCache), so a rotated secret takes
// effect without reopening the sink.
func s3Credentials(teamID uuid.UUID, p blobParams, deps Deps) aws.CredentialsProviderFunc {
	return func(ctx context.Context) (aws.Credentials, error) {
		id, err := deps.Secret(ctx, teamID, p.keyID)
		if err != nil {
			return aws.Credentials{}, teamSecretError(p.keyID, err)
		}
		key, err := deps.Secret(ctx, teamID, p.secretKey)
		if err != nil {
			return aws.Credentials{}, teamSecretError(p.secretKey, err)
		}
		return aws.Credentials{
			AccessKeyID:     strings.TrimSpace(string(id)),
			SecretAccessKey: strings.TrimSpace(string(key)),
			Source:          "tributary team secrets",
			CanExpire:       true,
			Expires:         time.Now().Add(5 * time.Minute),
		}, nil
	}
}

// write writes one object, and for file:// makes it durable.
func (s *blobSink) write(ctx context.Context, key string, data []byte, contentType string) error {
	if err := s.bucket.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: contentType}); err != nil {
		return err
	}
	return s.syncFile(key)
}

// syncFile flushes a file written through fileblob, and its directory, to
// disk: fileblob renames a temporary file into place but does not fsync,
// and an acknowledged delivery must survive a power loss.
func (s *blobSink) syncFile(key string) error {
	if s.fileDir == "" {
		return nil
	}
	path := filepath.Join(s.fileDir, filepath.FromSlash(key))
	// The file, then every directory up to the team's: any of them may
	// have just been created.
	paths := []string{path}
	for d := filepath.Dir(path); len(d) >= len(s.fileDir); d = filepath.Dir(d) {
		paths = append(paths, d)
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// blobError marks errors that retrying cannot fix as permanent: a missing
// bucket, refused credentials or permissions, a forbidden endpoint.
func blobError(msg string, err error) error {
	err = fmt.Errorf("%s: %w", msg, err)
	if errors.Is(err, netguard.ErrForbidden) || IsPermanent(err) {
		return Permanent(err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket", "InvalidBucketName", "AccessDenied", "Forbidden", "InvalidAccessKeyId",
			"SignatureDoesNotMatch", "AuthorizationHeaderMalformed", "InvalidArgument", "AccountProblem":
			return Permanent(err)
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.PermissionDenied, gcerrors.NotFound, gcerrors.InvalidArgument:
		return Permanent(err)
	}
	return err
}
