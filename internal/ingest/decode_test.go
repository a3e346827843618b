package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
)

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	obj := func(k string, v json.Number) map[string]any { return map[string]any{k: v} }
	for _, tc := range []struct {
		name   string
		body   string
		ndjson bool
		want   []any
	}{
		{"object", `{"a": 1}`, false, []any{obj("a", "1")}},
		{"array", `[{"a": 1}, {"a": 2.5}]`, false, []any{obj("a", "1"), obj("a", "2.5")}},
		{"empty array", `[]`, false, []any{}},
		{"array of scalars", `[1, "x"]`, false, []any{json.Number("1"), "x"}},
		{"ndjson", "{\"a\": 1}\n\n{\"a\": 2}\r\n", true, []any{obj("a", "1"), obj("a", "2")}},
		{"ndjson without a final newline", "{\"a\": 1}\n{\"a\": 2}", true, []any{obj("a", "1"), obj("a", "2")}},
		{"ndjson detected", "{\"a\": 1}\n{\"a\": 2}\n", false, []any{obj("a", "1"), obj("a", "2")}},
		{"ndjson of one array line", "[1]\n", true, []any{[]any{json.Number("1")}}},
		{"ndjson detected after blank lines", "\n \n  {\"a\": 1}\n{\"a\": 2}", false, []any{obj("a", "1"), obj("a", "2")}},
		{"pretty object", "{\n  \"a\": 1\n}\n", false, []any{obj("a", "1")}},
		{"array with white space", " \n[ {\"a\": 1} ,\n{\"a\": 2} ]\n ", false, []any{obj("a", "1"), obj("a", "2")}},
		{"big numbers stay exact", `{"a": 12345678901234567890}`, false, []any{obj("a", "12345678901234567890")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeBody(context.Background(), strings.NewReader(tc.body), tc.ndjson, 1_000_000, engine.Unshared())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeBodyRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		ndjson bool
		detail string
	}{
		{"empty", "", false, "The body is empty"},
		{"blank", " \n\t", true, "The body is empty"},
		{"malformed", `{"a": 1, "b": }`, false, "The body is not valid JSON: invalid character '}' looking for beginning of value at byte 15."},
		{"truncated", `[{"a": 1}, {"b"`, false, "ends early, after byte 15"},
		{"trailing data", `{"a": 1} x`, false, "unexpected data after the JSON value at byte 8"},
		{"two arrays on separate lines", "[1]\n[2]", false, "unexpected data after the JSON value at byte 3"},
		{"two objects on one line", `{"a": 1} {"a": 2}`, false, "at byte 8"},
		{"scalar", `"hello"`, false, "it is a single JSON string."},
		{"null", `null`, false, "single JSON null"},
		{"number", `5`, false, "single JSON number"},
		{"boolean", `true`, false, "single JSON boolean"},
		{"malformed ndjson line", "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3\n", true, "Line 3 is not valid JSON"},
		{"malformed detected ndjson", "{\"a\": 1}\n{\"a\": 2}\n\n{oops}\n", false, "Line 4 is not valid JSON"},
		{"malformed ndjson after blank lines", "\n{\"a\": 1}\n{oops}\n", false, "Line 3 is not valid JSON"},
		{"pretty object then another", "{\n\"a\": 1}\n{\"a\": 2}\n", false, "Line 1 is not valid JSON"},
		{"offset after leading space", "  {\"a\": 1, \"b\": }", false, "at byte 17."},
		{"missing comma", " [1 2]", false, "expected comma after array element in element 2 of the array, which starts after byte 4."},
		{"malformed array element", `[{"a": 1}, {"a": ]`, false, "invalid character ']' looking for beginning of value in element 2 of the array, which starts after byte 9."},
		{"two values on an ndjson line", "{\"a\": 1}\n{\"a\": 2} {\"a\": 3}\n", true, "Line 2 is not valid JSON: unexpected data after the JSON value at byte 9 of the line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeBody(context.Background(), strings.NewReader(tc.body), tc.ndjson, 1_000_000, engine.Unshared())
			var bad *BadJSONError
			if !errors.As(err, &bad) {
				t.Fatalf("decoded %#v, err %v; want a BadJSONError", got, err)
			}
			if !strings.Contains(bad.Detail, tc.detail) {
				t.Fatalf("detail %q lacks %q", bad.Detail, tc.detail)
			}
		})
	}
}

func TestIsNDJSON(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]bool{
		"application/x-ndjson":                 true,
		"application/x-ndjson; charset=utf-8":  true,
		"Application/JSONL":                    true,
		"application/jsonlines":                true,
		"application/json":                     false,
		"":                                     false,
		"application/x-ndjson; charset=\"utf8": false, // malformed parameters
	} {
		if got := isNDJSON(ct); got != want {
			t.Errorf("isNDJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestDecodeBodyRecordLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		ndjson bool
	}{
		{"array", `[1, 2, 3]`, false},
		{"ndjson", "{}\n\n{}\n{}\n", true},
		{"detected ndjson", "{}\n{}\n{}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := decodeBody(context.Background(), strings.NewReader(tc.body), tc.ndjson, 3, engine.Unshared()); err != nil || len(got) != 3 {
				t.Fatalf("at the limit: decoded %d, err %v", len(got), err)
			}
			got, err := decodeBody(context.Background(), strings.NewReader(tc.body), tc.ndjson, 2, engine.Unshared())
			var e *TooManyRecordsError
			if !errors.As(err, &e) || e.Limit != 2 {
				t.Fatalf("decoded %#v, err %v; want a TooManyRecordsError of 2", got, err)
			}
		})
	}
}

// A body over its limit is refused as too large even when its JSON is bad
// before the limit, as when bodies were read whole before decoding.
func TestDecodeBodyLimitWinsOverBadJSON(t *testing.T) {
	t.Parallel()
	r, err := openBody(header(), strings.NewReader(`{"a": oops `+strings.Repeat("x", 2000)), 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeBody(context.Background(), r, false, 10, engine.Unshared())
	var e *TooLargeError
	if !errors.As(err, &e) || e.Limit != 1024 {
		t.Fatalf("err = %v, want a TooLargeError", err)
	}
}

// A body read whole that jsonvalue declines is decoded by encoding/json,
// which is slower: at once when it is no bigger than before jsonvalue
// (wholeSlow), else in the team's turn, as a streamed body.
func TestDeclinedBodyInTurn(t *testing.T) {
	t.Parallel()
	eng := sharedEngine(t)
	ctx := context.Background()
	team := uuid.New()
	malformed := func(size int) string {
		n := size / len(`{"n": 1},`)
		return "[" + strings.Repeat(`{"n": 1},`, n) + "]" // a trailing comma
	}
	small, big := malformed(wholeSlow/2), malformed(wholeSlow+(headSize-wholeSlow)/2)
	if len(big) >= headSize || len(big) <= wholeSlow {
		t.Fatalf("the big body (%d bytes) is not between %d and %d", len(big), wholeSlow, headSize)
	}

	held := eng.Turn(team)
	if err := held.Take(ctx); err != nil { // the team's one slot
		t.Fatal(err)
	}
	var bad *BadJSONError
	if _, err := decodeBody(ctx, strings.NewReader(small), false, 10_000, eng.Turn(team)); !errors.As(err, &bad) {
		t.Fatalf("small malformed body while the turn is held: err %v, want a BadJSONError", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := decodeBody(ctx, strings.NewReader(big), false, 10_000, eng.Turn(team))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("malformed body of %d bytes decoded while its team's slot was held (err %v)", len(big), err)
	case <-time.After(200 * time.Millisecond):
	}
	held.Leave()
	if err := <-done; !errors.As(err, &bad) {
		t.Fatalf("err %v, want a BadJSONError", err)
	}
}

// sharedEngine is an engine whose CPU share has 2 slots, one per team.
func sharedEngine(t *testing.T) *engine.Engine {
	t.Helper()
	eng, err := engine.New(engine.Config{CPUSlots: 2, Compiler: pipeline.NewCompiler(source.Builtin(), sink.NewRegistry())}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	return eng
}

// A body too big to be read whole is decoded in its team's turn of the
// CPU share, and waits for the network outside it; a small body is
// decoded at once (issue 11: huge batches of one team raised another's
// p99).
func TestDecodeBodyInTurn(t *testing.T) {
	t.Parallel()
	eng := sharedEngine(t)
	ctx := context.Background()
	team := uuid.New()
	n := 2 * headSize / len(`{"n": 1},`) // bigger than a body read whole
	big := "[" + strings.TrimSuffix(strings.Repeat(`{"n": 1},`, n), ",") + "]"

	held := eng.Turn(team)
	if err := held.Take(ctx); err != nil { // the team's one slot (perKey = 2-1)
		t.Fatal(err)
	}
	if got, err := decodeBody(ctx, strings.NewReader(`[{"n": 1}, {"n": 2}]`), false, 10, eng.Turn(team)); err != nil || len(got) != 2 {
		t.Fatalf("small body while the turn is held: %d inputs, err %v", len(got), err)
	}
	done := make(chan error, 1)
	go func() {
		got, err := decodeBody(ctx, strings.NewReader(big), false, 10_000, eng.Turn(team))
		if err == nil && len(got) != n {
			err = fmt.Errorf("%d inputs", len(got))
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("big body decoded while its team's slot was held (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	held.Leave()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Waiting for the network holds no slot: while a body's sender is
	// silent, the team's other work takes the slot.
	pr, pw := io.Pipe()
	go func() {
		_, err := decodeBody(ctx, pr, false, 10_000, eng.Turn(team))
		done <- err
	}()
	if _, err := pw.Write([]byte(big[:20_000])); err != nil { // past the head: decoding began
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	other := eng.Turn(team)
	if err := other.Take(wctx); err != nil {
		t.Fatalf("the team's slot stayed held while the body's sender was silent: %v", err)
	}
	other.Leave()
	if _, err := pw.Write([]byte(big[20_000:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Canceled while waiting for its turn: ErrCanceled.
	if err := held.Take(ctx); err != nil {
		t.Fatal(err)
	}
	defer held.Leave()
	cctx, ccancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer ccancel()
	if _, err := decodeBody(cctx, strings.NewReader(big), false, 10_000, eng.Turn(team)); !errors.Is(err, ErrCanceled) {
		t.Fatalf("canceled while waiting for the turn: err %v, want ErrCanceled", err)
	}
}

// readHook calls hook once, when more than n bytes were read.
type readHook struct {
	r    io.Reader
	n    int
	hook func()
}

func (c *readHook) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n < 0 && c.hook != nil {
		c.hook()
		c.hook = nil
	}
	return k, err
}

// A malformed big body is drained outside its turn: the sender's context
// ending meanwhile does not turn the answer into ErrCanceled.
func TestDecodeBodyDrainsOutsideTurn(t *testing.T) {
	t.Parallel()
	eng := sharedEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := `[{"a": oops}, ` + strings.Repeat(`{"n": 1}, `, 10_000) + `{}]`
	team := uuid.New()
	other := eng.Turn(team)
	defer other.Leave()
	// While it drains, the team's other request takes the slot, and the
	// sender's context ends.
	r := &readHook{r: strings.NewReader(body), n: headSize + 4096, hook: func() {
		if err := other.Take(context.Background()); err != nil {
			t.Error(err)
		}
		cancel()
	}}
	_, err := decodeBody(ctx, r, false, 100_000, eng.Turn(team))
	var bad *BadJSONError
	if !errors.As(err, &bad) {
		t.Fatalf("err %v, want a BadJSONError", err)
	}
}
