package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newKafka starts an in-process Kafka cluster with the topic "events" of
// two partitions and returns the address of its brokers.
func newKafka(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "events")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// consumeKafka reads n records of topic from the start, with a client of its
// own that bypasses the sink.
func consumeKafka(t *testing.T, n int, topic string, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func kafkaHeader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func openKafkaSink(t *testing.T, kind Kind, settings string, deps Deps) Sink {
	t.Helper()
	if _, err := kind.Validate(json.RawMessage(settings), deps); err != nil {
		t.Fatalf("validate: %v", err)
	}
	sk, err := kind.Open(t.Context(), uuid.New(), json.RawMessage(settings), deps)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { sk.Close() })
	return sk
}

func TestKafkaValidate(t *testing.T) {
	t.Parallel()
	deps := destDeps(t, false, nil)
	for _, tc := range []struct {
		settings string
		secrets  []string
	}{
		{`{"brokers":["kafka.example.com:9092"],"topic":"events"}`, nil},
		{`{"brokers":["a.example.com:9093","b.example.com:9093"],"topic":"my.events_v1","key":"station","tls":true,
			"sasl":{"mechanism":"plain","username":"u","password_secret":"kafka-pw"}}`, []string{"kafka-pw"}},
		{`{"brokers":["a.example.com:9092"],"topic":"t","sasl":{"mechanism":"SCRAM-SHA-512","username":"u","password_secret":"p"}}`, []string{"p"}},
	} {
		got, err := KafkaKind.Validate(json.RawMessage(tc.settings), deps)
		if err != nil {
			t.Errorf("%s: %v", tc.settings, err)
		} else if !slices.Equal(got, tc.secrets) {
			t.Errorf("%s: secrets %v, want %v", tc.settings, got, tc.secrets)
		}
	}
	for _, tc := range []struct{ settings, want string }{
		{`{"topic":"t"}`, "brokers is required"},
		{`{"brokers":["kafka.example.com"],"topic":"t"}`, "is not host:port"},
		{`{"brokers":["kafka.example.com:0"],"topic":"t"}`, "is not host:port"},
		{`{"brokers":["127.0.0.1:9092"],"topic":"t"}`, "loopback"},
		{`{"brokers":["169.254.169.254:9092"],"topic":"t"}`, "metadata"},
		{`{"brokers":["a.example.com:9092"]}`, "not a Kafka topic name"},
		{`{"brokers":["a.example.com:9092"],"topic":"has space"}`, "not a Kafka topic name"},
		{`{"brokers":["a.example.com:9092"],"topic":".."}`, "not a Kafka topic name"},
		{`{"brokers":["a.example.com:9092"],"topic":"t","sasl":{"mechanism":"gssapi","username":"u","password_secret":"p"}}`, "sasl.mechanism must be"},
		{`{"brokers":["a.example.com:9092"],"topic":"t","sasl":{"mechanism":"plain","username":"u","password_secret":"p"}}`, "clear text"},
		{`{"brokers":["a.example.com:9092"],"topic":"t","sasl":{"mechanism":"scram-sha-256","password_secret":"p"}}`, "sasl.username is required"},
		{`{"brokers":["a.example.com:9092"],"topic":"t","sasl":{"mechanism":"scram-sha-256","username":"u"}}`, "password_secret is required"},
		{`{"brokers":["a.example.com:9092"],"topic":"t","sasl":{"mechanism":"scram-sha-256","username":"u","password":"hunter2"}}`, `unknown setting "password"`},
		{`{"brokers":"a.example.com:9092","topic":"t"}`, `"brokers" must be a list`},
	} {
		_, err := KafkaKind.Validate(json.RawMessage(tc.settings), deps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.settings, err, tc.want)
		}
	}
}

func TestKafkaProduce(t *testing.T) {
	t.Parallel()
	_, brokers := newKafka(t)
	sk := openKafkaSink(t, KafkaKind, `{"brokers":["`+brokers[0]+`"],"topic":"events","key":"station"}`, destDeps(t, true, nil))
	b := destBatch("kd-1", 6)
	b.Records[5].Data = json.RawMessage(`{"temp":1}`) // no key field: no key
	if err := sk.Deliver(t.Context(), b); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	got := consumeKafka(t, 6, "events", kgo.SeedBrokers(brokers...))
	slices.SortFunc(got, func(a, b *kgo.Record) int {
		x, _ := strconv.Atoi(kafkaHeader(a, kafkaHeaderRecordIndex))
		y, _ := strconv.Atoi(kafkaHeader(b, kafkaHeaderRecordIndex))
		return x - y
	})
	partitionOf := map[string]int32{}
	for i, r := range got {
		if kafkaHeader(r, kafkaHeaderDeliveryID) != "kd-1" || kafkaHeader(r, kafkaHeaderRecordIndex) != strconv.Itoa(i) || kafkaHeader(r, kafkaHeaderPipeline) != "weather" {
			t.Errorf("record %d headers %v", i, r.Headers)
		}
		var v map[string]any
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("record %d value %s: %v", i, r.Value, err)
		}
		if v["ts"] != b.Records[i].TS.Format(time.RFC3339Nano) {
			t.Errorf("record %d value %s has no event time", i, r.Value)
		}
		if i == 5 {
			if r.Key != nil {
				t.Errorf("record without the key field has key %q", r.Key)
			}
			continue
		}
		if want := "s" + strconv.Itoa(i%3); string(r.Key) != want {
			t.Errorf("record %d key %q, want %q", i, r.Key, want)
		}
		// Same key, same partition.
		if p, ok := partitionOf[string(r.Key)]; ok && p != r.Partition {
			t.Errorf("key %s in partitions %d and %d", r.Key, p, r.Partition)
		}
		partitionOf[string(r.Key)] = r.Partition
		// An idempotent producer writes batches with a producer id.
		if r.ProducerID < 0 {
			t.Errorf("record %d was not written by an idempotent producer (producer id %d)", i, r.ProducerID)
		}
	}

	// A redelivery may duplicate; the duplicates carry the same id.
	if err := sk.Deliver(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	got = consumeKafka(t, 12, "events", kgo.SeedBrokers(brokers...))
	for _, r := range got {
		if kafkaHeader(r, kafkaHeaderDeliveryID) != "kd-1" {
			t.Errorf("record %v without the delivery id", r.Headers)
		}
	}
}

func TestKafkaFailures(t *testing.T) {
	t.Parallel()
	kind := kafkaKind(kafkaConfig{deliveryTimeout: 3 * time.Second})
	ctx := t.Context()

	t.Run("broker down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		sk := openKafkaSink(t, kind, `{"brokers":["`+addr+`"],"topic":"events"}`, destDeps(t, true, nil))
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err = sk.Deliver(dctx, destBatch("k-1", 2))
		if err == nil || IsPermanent(err) {
			t.Fatalf("deliver to a broker that is down: %v, want a retryable error", err)
		}
	})
	t.Run("broker stops", func(t *testing.T) {
		c, brokers := newKafka(t)
		sk := openKafkaSink(t, kind, `{"brokers":["`+brokers[0]+`"],"topic":"events"}`, destDeps(t, true, nil))
		if err := sk.Deliver(ctx, destBatch("k-2", 1)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err := sk.Deliver(dctx, destBatch("k-3", 1))
		if err == nil || IsPermanent(err) {
			t.Fatalf("deliver after the broker stopped: %v, want a retryable error", err)
		}
	})
	t.Run("unknown topic", func(t *testing.T) {
		_, brokers := newKafka(t)
		sk := openKafkaSink(t, kind, `{"brokers":["`+brokers[0]+`"],"topic":"nope"}`, destDeps(t, true, nil))
		err := sk.Deliver(ctx, destBatch("k-4", 1))
		if !IsPermanent(err) || !strings.Contains(err.Error(), "create the topic") {
			t.Fatalf("deliver to a missing topic: %v, want a permanent error", err)
		}
	})
	t.Run("refused by the SSRF guard", func(t *testing.T) {
		_, brokers := newKafka(t)
		deps := destDeps(t, false, nil)
		deps.CheckURL = nil // as if a host name hid the loopback address
		sk, err := kind.Open(ctx, uuid.New(), json.RawMessage(`{"brokers":["`+brokers[0]+`"],"topic":"events"}`), deps)
		if err != nil {
			t.Fatal(err)
		}
		defer sk.Close()
		err = sk.Deliver(ctx, destBatch("k-5", 1))
		if !IsPermanent(err) || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("deliver to a refused broker: %v, want a permanent refusal", err)
		}
	})
	t.Run("bad record", func(t *testing.T) {
		_, brokers := newKafka(t)
		sk := openKafkaSink(t, kind, `{"brokers":["`+brokers[0]+`"],"topic":"events"}`, destDeps(t, true, nil))
		b := destBatch("k-6", 1)
		b.Records[0].Data = json.RawMessage(`[1]`)
		if err := sk.Deliver(ctx, b); !IsPermanent(err) {
			t.Fatalf("deliver a record that is not an object: %v, want permanent", err)
		}
	})
}

func TestKafkaSASL(t *testing.T) {
	t.Parallel()
	_, brokers := newKafka(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "tributary", "s3cret"))
	settings := `{"brokers":["` + brokers[0] + `"],"topic":"events","sasl":{"mechanism":"scram-sha-256","username":"tributary","password_secret":"kafka-pw"}}`

	sk := openKafkaSink(t, KafkaKind, settings, destDeps(t, true, map[string]string{"kafka-pw": "s3cret\n"}))
	if err := sk.Deliver(t.Context(), destBatch("sasl-1", 2)); err != nil {
		t.Fatalf("deliver with SCRAM: %v", err)
	}

	// kfake drops the connection on a wrong password, where Kafka answers
	// SASL_AUTHENTICATION_FAILED (see TestKafkaErrors): either way the
	// delivery fails.
	wrong := openKafkaSink(t, kafkaKind(kafkaConfig{deliveryTimeout: 3 * time.Second}), settings, destDeps(t, true, map[string]string{"kafka-pw": "nope"}))
	if err := wrong.Deliver(t.Context(), destBatch("sasl-2", 1)); err == nil {
		t.Fatal("delivered with a wrong password")
	}
}

func TestKafkaErrors(t *testing.T) {
	t.Parallel()
	s := &kafkaSink{p: kafkaParams{topic: "events"}}
	for _, tc := range []struct {
		err       error
		permanent bool
	}{
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.SaslAuthenticationFailed), true},
		{kerr.TopicAuthorizationFailed, true},
		{kerr.MessageTooLarge, true},
		{kerr.UnknownTopicOrPartition, true},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.NotLeaderForPartition), false},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, io.EOF), false},
		{context.DeadlineExceeded, false},
	} {
		if got := IsPermanent(s.produceError(tc.err)); got != tc.permanent {
			t.Errorf("%v: permanent %v, want %v", tc.err, got, tc.permanent)
		}
	}
}

func TestKafkaTLS(t *testing.T) {
	t.Parallel()
	// httptest's certificate is valid for 127.0.0.1; borrow it.
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	_, brokers := newKafka(t,
		kfake.TLS(&tls.Config{Certificates: srv.TLS.Certificates}),
		kfake.EnableSASL(), kfake.Superuser("PLAIN", "tributary", "pw"))
	settings := `{"brokers":["` + brokers[0] + `"],"topic":"events","tls":true,"sasl":{"mechanism":"plain","username":"tributary","password_secret":"pw"}}`
	deps := destDeps(t, true, map[string]string{"pw": "pw"})

	sk := openKafkaSink(t, kafkaKind(kafkaConfig{rootCAs: roots}), settings, deps)
	if err := sk.Deliver(t.Context(), destBatch("tls-1", 3)); err != nil {
		t.Fatalf("deliver over TLS: %v", err)
	}
	got := consumeKafka(t, 3, "events", kgo.SeedBrokers(brokers...), kgo.DialTLSConfig(&tls.Config{RootCAs: roots}),
		kgo.SASL(kafkaSASL(uuid.Nil, kafkaParams{mechanism: "plain", username: "tributary", passwordSecret: "pw"}, deps)))
	if len(got) != 3 {
		t.Fatalf("%d records", len(got))
	}

	// Without the test's roots, the certificate is not trusted.
	untrusted := openKafkaSink(t, kafkaKind(kafkaConfig{deliveryTimeout: 3 * time.Second}), settings, deps)
	if err := untrusted.Deliver(t.Context(), destBatch("tls-2", 1)); err == nil {
		t.Fatal("delivered to a broker with an untrusted certificate")
	}
}
