package pubsub

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestPointerOfMatchesPayload: the pointer a publisher builds from its
// records (PointerOf) is the one a broker decodes from the payload, with
// ids out of order, runs of ids and event times out of order.
func TestPointerOfMatchesPayload(t *testing.T) {
	team, pipe := uuid.New(), uuid.New()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	ids := []int64{12, 10, 11, 40, 13, 7}
	ts := []time.Time{t0.Add(time.Second), t0, t0.Add(-time.Hour), t0.Add(time.Minute), t0, t0.Add(2 * time.Second)}
	payload := []byte(`{"pipeline":"` + pipe.String() + `","version":3,"count":6,"rejected":2,"records":[`)
	for i := range ids {
		if i > 0 {
			payload = append(payload, ',')
		}
		payload = append(payload, `{"id":`...)
		payload = strconv.AppendInt(payload, ids[i], 10)
		payload = append(payload, `,"ts":"`...)
		payload = ts[i].AppendFormat(payload, time.RFC3339Nano)
		payload = append(payload, `","data":{"x":[1,{"y":"z"}]}}`...)
	}
	payload = append(payload, "]}"...)

	decoded, err := pointerFor(team, payload)
	if err != nil {
		t.Fatal(err)
	}
	built, err := PointerOf(team, pipe, 3, 2, len(ids), func(i int) (int64, time.Time) { return ids[i], ts[i] })
	if err != nil {
		t.Fatal(err)
	}
	want := Pointer{Team: team, Pipeline: pipe, Version: 3, Count: 6, Rejected: 2,
		From: t0.Add(-time.Hour), To: t0.Add(time.Minute), IDs: [][2]int64{{7, 7}, {10, 13}, {40, 40}}}
	if !reflect.DeepEqual(built, want) {
		t.Fatalf("PointerOf = %+v, want %+v", built, want)
	}
	if !reflect.DeepEqual(decoded, want) {
		t.Fatalf("pointerFor = %+v, want %+v", decoded, want)
	}
	if _, err := PointerOf(team, pipe, 3, 0, 2, func(i int) (int64, time.Time) { return int64(i), t0 }); err != errNoPointer {
		t.Fatalf("a record without id: err = %v, want errNoPointer", err)
	}
}
