package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// laggard is a receiver whose first request waits until release is
// closed, so that the batches committed meanwhile queue up behind it; it
// answers fail(n, first record's "n", try) or 204, and keeps the
// webhook-ids it acknowledged, in order.
type laggard struct {
	*receiver
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	tries   map[int]int
	acked   []string
}

func newLaggard(t *testing.T, fail func(n, try int) int) *laggard {
	t.Helper()
	l := &laggard{release: make(chan struct{}), tries: map[int]int{}}
	t.Cleanup(l.open)
	l.receiver = newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if i == 1 {
			<-l.release
		}
		var bd body
		_ = json.Unmarshal(l.got()[i-1].body, &bd)
		var rec struct {
			N int `json:"n"`
		}
		if len(bd.Records) > 0 {
			_ = json.Unmarshal(bd.Records[0].Data, &rec)
		}
		l.mu.Lock()
		l.tries[rec.N]++
		try := l.tries[rec.N]
		l.mu.Unlock()
		if code := fail(rec.N, try); code != 0 {
			w.WriteHeader(code)
			return
		}
		l.mu.Lock()
		l.acked = append(l.acked, r.Header.Get("Webhook-Id"))
		l.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	return l
}

// open lets the first request through.
func (l *laggard) open() { l.once.Do(func() { close(l.release) }) }

func (l *laggard) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// queue commits batch 0, waits until its delivery holds the receiver,
// then commits batches 1..n (one record each, "n" = the batch's number):
// their deliveries queue up behind the first.
func queue(t *testing.T, b *bundle, p core.Pipeline, l *laggard, n int) {
	t.Helper()
	b.ingest(t, p, 0, 1)
	waitFor(t, "the first delivery to reach the receiver", func() bool { return len(l.got()) == 1 })
	for i := 1; i <= n; i++ {
		b.ingest(t, p, i, 1)
	}
}

// holding sets one worker, and an attempt timeout long enough for the
// first request to be held while the batches behind it commit, however
// loaded the machine (the sinks' request timeout is 5m as well).
func holding(o *options) {
	o.cfg.Workers = 1
	o.cfg.AttemptTimeout = 10 * time.Minute
}

// keysInCommitOrder returns the idempotency ids of the deliveries, oldest
// first (ids are time-ordered: the order the batches committed in).
func keysInCommitOrder(ds []core.Delivery) []string {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b core.Delivery) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Key
	}
	return out
}

func TestLaggingSinkIsDrainedByOneJobInOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, holding)
		l := newLaggard(t, func(int, int) int { return 0 })
		p := b.pipeline(t, spec("lagging", httpSink("slow", l.URL, `"timeout":"5m"`)))
		const behind = 30
		queue(t, b, p, l, behind)
		l.open()
		ds := b.waitStatus(t, p, "slow", behind+1, core.DeliveryDelivered)

		// Every batch went out once, as its own request with its own
		// webhook-id, in commit order.
		if got, want := l.ackedIDs(), keysInCommitOrder(ds); !slices.Equal(got, want) {
			t.Fatalf("webhook-ids acknowledged:\n%v\nwant, in commit order:\n%v", got, want)
		}
		for _, d := range ds {
			if d.Attempts != 1 || d.Records != 1 || d.DeliveredAt == nil {
				t.Fatalf("delivery %+v", d)
			}
		}
		// The batches that queued up behind the first were carried by the
		// next job rather than worked one job each.
		if carried := metricSum(t, b, "tributary_sink_deliveries_carried_total"); carried < behind-1 {
			t.Fatalf("%v deliveries carried, want at least %d", carried, behind-1)
		}
		states, err := st.SinkStates(context.Background(), p.TeamID, p.ID)
		if err != nil || len(states) != 1 || states[0].Delivered != behind+1 || states[0].Records != behind+1 || states[0].Status != core.SinkActive {
			t.Fatalf("sink states = %+v, %v", states, err)
		}
	})
}

func TestCarriedDeliveriesFailOneByOne(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, holding)
		var refuse sync.Map // batch 3 is refused until it is retried by hand
		refuse.Store(3, true)
		l := newLaggard(t, func(n, try int) int {
			switch {
			case n == 3:
				if _, ok := refuse.Load(3); ok {
					return http.StatusBadRequest // permanent: dead at once
				}
			case n == 6 && try == 1:
				return http.StatusServiceUnavailable // retried
			}
			return 0
		})
		p := b.pipeline(t, spec("failing", httpSink("picky", l.URL, `"timeout":"5m"`)))
		const behind = 10
		queue(t, b, p, l, behind)
		l.open()
		ds := b.waitStatus(t, p, "picky", behind+1, core.DeliveryDelivered, core.DeliveryDead)

		want := keysInCommitOrder(ds)
		var dead core.Delivery
		for _, d := range ds {
			if d.Status == core.DeliveryDead {
				if dead.Key != "" {
					t.Fatalf("two dead deliveries: %+v and %+v", dead, d)
				}
				dead = d
			}
		}
		if dead.Key != want[3] || dead.Attempts != 1 {
			t.Fatalf("dead delivery %+v, want the one of batch 3 (%s) after one attempt", dead, want[3])
		}
		// The others were acknowledged in commit order: the transient
		// failure of batch 6 held back the batches after it until its retry.
		if got := l.ackedIDs(); !slices.Equal(got, slices.Delete(slices.Clone(want), 3, 4)) {
			t.Fatalf("webhook-ids acknowledged:\n%v\nwant:\n%v", got, want)
		}
		for _, d := range ds {
			if d.Key == want[6] && (d.Status != core.DeliveryDelivered || d.Attempts != 2) {
				t.Fatalf("batch 6's delivery %+v, want delivered at the second attempt", d)
			}
		}

		// The dead one is retried by hand with its own records and id.
		refuse.Delete(3)
		if _, err := b.svc.Retry(context.Background(), b.team.ID, p.ID, "picky", dead.ID); err != nil {
			t.Fatal(err)
		}
		b.waitStatus(t, p, "picky", behind+1, core.DeliveryDelivered)
		if got := l.ackedIDs(); got[len(got)-1] != dead.Key {
			t.Fatalf("the retry by hand carried id %s, want %s", got[len(got)-1], dead.Key)
		}
	})
}
