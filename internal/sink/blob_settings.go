package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// blobSettings is the JSON form of the settings.
type blobSettings struct {
	URL                   string          `json:"url"`
	Format                string          `json:"format,omitempty"`
	Compression           string          `json:"compression,omitempty"`
	Roll                  string          `json:"roll,omitempty"`
	MaxBytes              json.RawMessage `json:"max_bytes,omitempty"`
	AccessKeyIDSecret     string          `json:"access_key_id_secret,omitempty"`
	SecretAccessKeySecret string          `json:"secret_access_key_secret,omitempty"`
}

// blobParams are valid settings.
type blobParams struct {
	scheme    string // "file" or "s3"
	bucket    string // s3 only
	prefix    string // key prefix: "" or ending in "/"
	region    string
	endpoint  string // "" for AWS's own
	pathStyle bool
	format    fileFormat
	gzip      bool
	roll      time.Duration
	maxBytes  int64
	keyID     string // secret names, s3 only
	secretKey string
}

func (p blobParams) secrets() []string {
	if p.scheme != "s3" {
		return nil
	}
	return []string{p.keyID, p.secretKey}
}

var s3BucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// parseBlobSettings checks the settings; its errors say which setting is
// wrong and what would be right.
func parseBlobSettings(raw json.RawMessage, cfg BlobConfig, deps Deps) (blobParams, error) {
	var s blobSettings
	if err := decodeStrict(raw, &s); err != nil {
		return blobParams{}, fmt.Errorf("blob: %w", err)
	}
	p := blobParams{format: formatNDJSON, roll: blobDefaultRoll, maxBytes: blobDefaultMaxBytes}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("blob: "+format, args...)) }

	if s.URL == "" {
		bad("url is required: file:///path or s3://bucket/prefix")
	} else if u, err := url.Parse(s.URL); err != nil {
		bad("url is not a valid URL")
	} else {
		switch u.Scheme {
		case "file":
			errs = append(errs, p.parseFileURL(u, cfg)...)
		case "s3":
			errs = append(errs, p.parseS3URL(u, deps)...)
		default:
			bad("url must start with file:// or s3://, not %q", u.Scheme+":")
		}
	}

	switch s.Format {
	case "", "ndjson":
	case "csv", "parquet":
		p.format = fileFormat(s.Format)
	default:
		bad("format must be ndjson, csv or parquet, not %q", s.Format)
	}
	switch s.Compression {
	case "":
		p.gzip = p.format != formatParquet
	case "gzip":
		if p.format == formatParquet {
			bad("compression gzip does not apply to parquet, which is compressed inside; leave compression out")
		}
		p.gzip = p.format != formatParquet
	case "none":
	default:
		bad("compression must be gzip or none, not %q", s.Compression)
	}
	if s.Roll != "" {
		d, err := time.ParseDuration(s.Roll)
		switch {
		case err != nil:
			bad("roll %q is not a duration like 15m or 1h", s.Roll)
		case d < blobMinRoll || d > blobMaxRoll:
			bad("roll must be between %s and %s, not %s", blobMinRoll, blobMaxRoll, d)
		default:
			p.roll = d
		}
	}
	if len(s.MaxBytes) > 0 && string(s.MaxBytes) != "null" {
		n, err := parseByteSize(s.MaxBytes)
		switch {
		case err != nil:
			bad("max_bytes: %v", err)
		case n < blobMinMaxBytes || n > blobMaxMaxBytes:
			bad("max_bytes must be between 1MiB and 1GiB, not %d bytes", n)
		default:
			p.maxBytes = n
		}
	}
	if p.scheme == "s3" {
		if s.AccessKeyIDSecret == "" || s.SecretAccessKeySecret == "" {
			bad("s3 needs access_key_id_secret and secret_access_key_secret, the names of team secrets holding the credentials")
		}
		p.keyID, p.secretKey = s.AccessKeyIDSecret, s.SecretAccessKeySecret
	} else if s.AccessKeyIDSecret != "" || s.SecretAccessKeySecret != "" {
		bad("access_key_id_secret and secret_access_key_secret apply to s3:// URLs only")
	}
	return p, errors.Join(errs...)
}

func (p *blobParams) parseFileURL(u *url.URL, cfg BlobConfig) []error {
	p.scheme = "file"
	var errs []error
	if cfg.FileRoot == "" {
		errs = append(errs, errors.New("blob: file:// URLs are not enabled on this server; use s3://"))
	}
	if u.Host != "" && u.Host != "localhost" {
		errs = append(errs, fmt.Errorf("blob: a file URL has no host: write file:///path, not file://%s/…", u.Host))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, errors.New("blob: a file URL takes a path only: file:///path"))
	}
	prefix, err := keyPrefix(u.Path)
	if err != nil {
		errs = append(errs, err)
	}
	p.prefix = prefix
	return errs
}

func (p *blobParams) parseS3URL(u *url.URL, deps Deps) []error {
	p.scheme = "s3"
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("blob: "+format, args...)) }
	if u.User != nil {
		bad("credentials do not belong in the URL; put them in team secrets and name them in access_key_id_secret and secret_access_key_secret")
	}
	if !s3BucketName.MatchString(u.Host) {
		bad("%q is not a bucket name: s3://bucket/prefix, 3 to 63 lower-case letters, digits, dots and hyphens", u.Host)
	}
	p.bucket = u.Host
	prefix, err := keyPrefix(u.Path)
	if err != nil {
		errs = append(errs, err)
	}
	p.prefix = prefix
	p.region = "us-east-1"
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "region":
			if v == "" {
				bad("region is empty")
			}
			p.region = v
		case "endpoint":
			e, err := url.Parse(v)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.User != nil {
				bad("endpoint must be a URL like https://s3.example.com, without path, query or credentials")
				continue
			}
			if deps.CheckURL != nil {
				if err := deps.CheckURL(v); err != nil {
					bad("endpoint: %v", err)
					continue
				}
			}
			p.endpoint = strings.TrimSuffix(v, "/")
		case "use_path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("use_path_style must be true or false")
			}
			p.pathStyle = b
		default:
			bad("unknown URL parameter %q; s3 URLs take region, endpoint and use_path_style", k)
		}
	}
	return errs
}

// keyPrefix turns a URL path into a key prefix ("" or ending in "/"),
// refusing paths that could leave their directory or that object stores
// and file systems would read differently.
func keyPrefix(path string) (string, error) {
	path = strings.TrimPrefix(path, "/")
	path = strings.TrimSuffix(path, "/")
	if path == "" {
		return "", nil
	}
	for seg := range strings.SplitSeq(path, "/") {
		switch {
		case seg == "":
			return "", errors.New("blob: the URL path has an empty segment (//)")
		case seg == "." || seg == "..":
			return "", fmt.Errorf("blob: the URL path may not contain %q segments", seg)
		case strings.HasSuffix(seg, "."):
			return "", fmt.Errorf("blob: a segment of the URL path may not end with a dot (%q)", seg)
		case strings.ContainsFunc(seg, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
			return "", errors.New("blob: the URL path may not contain control characters or backslashes")
		}
	}
	return path + "/", nil
}

// parseByteSize reads a number of bytes, or a string like "64MiB", "10MB"
// or "1048576".
func parseByteSize(raw json.RawMessage) (int64, error) {
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, errors.New(`must be a number of bytes or a size like "64MiB"`)
	}
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	units := map[string]float64{
		"": 1, "B": 1,
		"KB": 1e3, "MB": 1e6, "GB": 1e9,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
	}
	mult, ok := units[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size like 64MiB, 100MB or 1048576", s)
	}
	return int64(f * mult), nil
}
