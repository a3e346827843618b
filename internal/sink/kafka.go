package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary-dev/tributary/internal/netguard"
)

// The kafka sink produces one message per record to a topic on a team's
// brokers, with franz-go: acks from all in-sync replicas and idempotent
// writes (both franz-go's defaults, set explicitly here), so the client's
// own retries never duplicate a message. A delivery succeeds when the
// brokers acknowledged every message of the batch (ProduceSync).
//
// At-least-once: a delivery retried after a failure (or after a produce
// canceled by its deadline, which franz-go is allowed to do here so a
// delivery never hangs) may produce some messages twice. Every message
// carries headers for consumers to dedupe on: tributary-delivery-id (the
// delivery's idempotency id) and tributary-record-index (the record's
// position in the delivery), plus tributary-pipeline.
//
// A message's value is the record's JSON object, with "ts" added when the
// record has none; its key, when the key setting names a field, is that
// field's value as text (absent or null: no key).
//
// Every connection, to the seed brokers and to the brokers they advertise,
// goes through Deps.Dial, so SSRF rules apply; TLS, when set, is layered
// on top. The SASL password is read from a team secret at every
// authentication, so a rotated password takes effect on the next
// connection.

// KafkaKind is the "kafka" kind. Settings:
//
//	brokers: ["host:port", …], the seed brokers
//	topic:   the topic to produce to (it must exist)
//	key:     the record field whose value is the message key (optional)
//	sasl:    {mechanism: plain | scram-sha-256 | scram-sha-512,
//	          username, password_secret: name of a team secret} (optional;
//	          plain only with tls)
//	tls:     true to connect with TLS (verified against the system's roots)
var KafkaKind = kafkaKind(kafkaConfig{})

// kafkaConfig holds what tests change.
type kafkaConfig struct {
	rootCAs         *x509.CertPool // nil: the system's
	deliveryTimeout time.Duration  // 0: kafkaDeliveryTimeout
}

// kafkaDeliveryTimeout bounds how long a record may wait to be produced,
// retries included.
const kafkaDeliveryTimeout = time.Minute

func kafkaKind(cfg kafkaConfig) Kind {
	return Kind{
		Name:    "kafka",
		Summary: "produces each record as a message to a Kafka topic",
		Description: "Each record becomes one message of `topic` (which must exist) on the cluster of `brokers`, " +
			"keyed by the value of the record field `key` when set. `sasl` authenticates with PLAIN or SCRAM " +
			"and a password from a team secret (PLAIN only with `tls`).",
		NewSettings: func() any { return new(kafkaSettings) },
		Secrets: func(v any) []SecretRef {
			if s := v.(*kafkaSettings); s.SASL != nil && s.SASL.PasswordSecret != "" {
				return []SecretRef{{Path: "sasl.password_secret", Name: s.SASL.PasswordSecret}}
			}
			return nil
		},
		Example: `{"brokers":["kafka-1.example.com:9092","kafka-2.example.com:9092"],"topic":"weather","key":"station",` +
			`"sasl":{"mechanism":"scram-sha-256","username":"tributary","password_secret":"kafka-password"},"tls":true}`,
		MaxBatch: 10000,
		Validate: func(settings json.RawMessage, deps Deps) ([]string, error) {
			p, err := parseKafkaSettings(settings, deps)
			if err != nil {
				return nil, err
			}
			if p.passwordSecret != "" {
				return []string{p.passwordSecret}, nil
			}
			return nil, nil
		},
		Open: func(_ context.Context, teamID uuid.UUID, settings json.RawMessage, deps Deps) (Sink, error) {
			p, err := parseKafkaSettings(settings, deps)
			if err != nil {
				return nil, Permanent(err)
			}
			return openKafka(teamID, p, cfg, deps)
		},
	}
}

type kafkaSettings struct {
	Brokers []string `json:"brokers"`
	Topic   string   `json:"topic"`
	Key     string   `json:"key,omitempty"`
	SASL    *struct {
		Mechanism      string `json:"mechanism"`
		Username       string `json:"username,omitempty"`
		PasswordSecret string `json:"password_secret,omitempty"`
	} `json:"sasl,omitempty"`
	TLS bool `json:"tls,omitempty"`
}

// kafkaParams are valid settings.
type kafkaParams struct {
	brokers        []string
	topic          string
	key            string
	mechanism      string // "" for no SASL
	username       string
	passwordSecret string
	tls            bool
}

var kafkaTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

const kafkaMaxBrokers = 20

func parseKafkaSettings(raw json.RawMessage, deps Deps) (kafkaParams, error) {
	var s kafkaSettings
	if err := decodeStrict(raw, &s); err != nil {
		return kafkaParams{}, fmt.Errorf("kafka: %w", err)
	}
	p := kafkaParams{topic: s.Topic, key: s.Key, tls: s.TLS}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("kafka: "+format, args...)) }

	switch {
	case len(s.Brokers) == 0:
		bad(`brokers is required: a list like ["broker1.example.com:9092"]`)
	case len(s.Brokers) > kafkaMaxBrokers:
		bad("list at most %d brokers; the client finds the others", kafkaMaxBrokers)
	}
	for _, b := range s.Brokers {
		host, port, err := net.SplitHostPort(b)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			bad("broker %q is not host:port", b)
			continue
		}
		if deps.CheckURL != nil {
			// CheckURL knows http URLs; what it checks, the host, is the same.
			if err := deps.CheckURL("http://" + b); err != nil {
				bad("broker %q: %v", b, err)
				continue
			}
		}
		p.brokers = append(p.brokers, b)
	}
	if !kafkaTopic.MatchString(s.Topic) || s.Topic == "." || s.Topic == ".." {
		bad("topic %q is not a Kafka topic name: 1 to 249 letters, digits, '.', '_' and '-'", s.Topic)
	}
	if s.SASL != nil {
		switch m := strings.ToLower(s.SASL.Mechanism); m {
		case "plain", "scram-sha-256", "scram-sha-512":
			p.mechanism = m
			if m == "plain" && !s.TLS {
				bad("sasl plain sends the password in clear text: set tls: true, or use scram-sha-256 or scram-sha-512")
			}
		default:
			bad("sasl.mechanism must be plain, scram-sha-256 or scram-sha-512, not %q", s.SASL.Mechanism)
		}
		if s.SASL.Username == "" {
			bad("sasl.username is required")
		}
		if s.SASL.PasswordSecret == "" {
			bad("sasl.password_secret is required: the name of a team secret holding the password")
		}
		p.username, p.passwordSecret = s.SASL.Username, s.SASL.PasswordSecret
	}
	return p, errors.Join(errs...)
}

// kafkaSink is an open kafka sink: one franz-go client, kept for the
// sink's life, which pools connections to the brokers.
type kafkaSink struct {
	p      kafkaParams
	client *kgo.Client

	mu      sync.Mutex
	dialErr error // the last refused dial, to explain a timeout
}

var _ Sink = (*kafkaSink)(nil)

func openKafka(teamID uuid.UUID, p kafkaParams, cfg kafkaConfig, deps Deps) (*kafkaSink, error) {
	if deps.Dial == nil {
		return nil, errors.New("kafka: no SSRF-safe dialer to reach the brokers with")
	}
	s := &kafkaSink{p: p}
	timeout := cfg.deliveryTimeout
	if timeout == 0 {
		timeout = kafkaDeliveryTimeout
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(p.brokers...),
		kgo.Dialer(s.dialer(deps.Dial, cfg.rootCAs)),
		kgo.ClientID("tributary"),
		kgo.DefaultProduceTopic(p.topic),
		// Both are franz-go's defaults; stated, since the sink's
		// guarantees rest on them. Idempotent writes are on unless
		// DisableIdempotentWrite is given.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Let a deadline end a produce even after its request was sent:
		// a delivery must not hang, and a duplicate is what at-least-once
		// allows.
		kgo.AllowIdempotentProduceCancellation(),
		kgo.RecordDeliveryTimeout(timeout),
		kgo.UnknownTopicRetries(2),
	}
	if p.mechanism != "" {
		if deps.Secret == nil {
			return nil, errors.New("kafka: no secret store to read the SASL password from")
		}
		opts = append(opts, kgo.SASL(kafkaSASL(teamID, p, deps)))
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, Permanent(fmt.Errorf("kafka: %w", err))
	}
	s.client = client
	return s, nil
}

// dialer connects through the SSRF-safe dial, then TLS if set.
func (s *kafkaSink) dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), roots *x509.CertPool) func(ctx context.Context, network, host string) (net.Conn, error) {
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		conn, err := dial(ctx, network, host)
		if err != nil {
			if errors.Is(err, netguard.ErrForbidden) {
				s.mu.Lock()
				s.dialErr = err
				s.mu.Unlock()
			}
			return nil, err
		}
		if !s.p.tls {
			return conn, nil
		}
		name, _, _ := net.SplitHostPort(host)
		tc := tls.Client(conn, &tls.Config{ServerName: name, RootCAs: roots, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", host, err)
		}
		return tc, nil
	}
}

// kafkaSASL authenticates with the password read from the team secret.
func kafkaSASL(teamID uuid.UUID, p kafkaParams, deps Deps) sasl.Mechanism {
	password := func(ctx context.Context) (string, error) {
		b, err := deps.Secret(ctx, teamID, p.passwordSecret)
		if err != nil {
			return "", teamSecretError(p.passwordSecret, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	switch p.mechanism {
	case "plain":
		return plain.Plain(func(ctx context.Context) (plain.Auth, error) {
			pw, err := password(ctx)
			return plain.Auth{User: p.username, Pass: pw}, err
		})
	case "scram-sha-512":
		return scram.Sha512(func(ctx context.Context) (scram.Auth, error) {
			pw, err := password(ctx)
			return scram.Auth{User: p.username, Pass: pw}, err
		})
	default:
		return scram.Sha256(func(ctx context.Context) (scram.Auth, error) {
			pw, err := password(ctx)
			return scram.Auth{User: p.username, Pass: pw}, err
		})
	}
}

// Kafka headers of every message.
const (
	kafkaHeaderDeliveryID  = "tributary-delivery-id"
	kafkaHeaderRecordIndex = "tributary-record-index"
	kafkaHeaderPipeline    = "tributary-pipeline"
)

// Deliver produces the batch and waits for every message's
// acknowledgement.
func (s *kafkaSink) Deliver(ctx context.Context, b Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	s.mu.Lock()
	s.dialErr = nil // explain this delivery's failure only
	s.mu.Unlock()
	recs := make([]*kgo.Record, len(b.Records))
	for i, r := range b.Records {
		value, err := appendJSONLine(nil, r)
		if err != nil {
			return Permanent(fmt.Errorf("kafka: record %d: %w", i, err))
		}
		rec := &kgo.Record{
			Value: value[:len(value)-1], // no newline
			Headers: []kgo.RecordHeader{
				{Key: kafkaHeaderDeliveryID, Value: []byte(b.DeliveryID)},
				{Key: kafkaHeaderRecordIndex, Value: strconv.AppendInt(nil, int64(i), 10)},
				{Key: kafkaHeaderPipeline, Value: []byte(b.Pipeline)},
			},
		}
		if s.p.key != "" {
			m, _ := recordMembers(r.Data) // checked by appendJSONLine
			if raw := m[s.p.key]; !jsonNull(raw) {
				k, err := jsonText(raw)
				if err != nil {
					return Permanent(fmt.Errorf("kafka: record %d: key field %q: %w", i, s.p.key, err))
				}
				rec.Key = []byte(k)
			}
		}
		recs[i] = rec
	}
	if err := s.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return s.produceError(err)
	}
	return nil
}

// produceError says whether retrying can help.
func (s *kafkaSink) produceError(err error) error {
	err = fmt.Errorf("kafka: produce to %s: %w", s.p.topic, err)
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.UnknownTopicOrPartition:
			return Permanent(fmt.Errorf("%w (create the topic, or change the sink's topic)", err))
		case kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.SaslAuthenticationFailed,
			kerr.UnsupportedSaslMechanism, kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord,
			kerr.InvalidTopicException, kerr.PolicyViolation:
			return Permanent(err)
		}
	}
	if IsPermanent(err) || errors.Is(err, netguard.ErrForbidden) {
		return Permanent(err)
	}
	s.mu.Lock()
	dialErr := s.dialErr
	s.dialErr = nil
	s.mu.Unlock()
	if dialErr != nil {
		// The records timed out because no broker may be reached.
		return Permanent(fmt.Errorf("%w; a broker is refused: %v", err, dialErr))
	}
	return err
}

// Close closes the client and its connections.
func (s *kafkaSink) Close() error {
	s.client.Close()
	return nil
}
