package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"

	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/jsonvalue"
	"github.com/tributary-dev/tributary/internal/lowpriority"
)

// This file turns a payload into the engine's inputs. It is the one place
// that knows the payload formats. A small body (headSize) is read whole
// and decoded from memory; a bigger one is decoded as it is read, one
// record at a time, and decoding stops at the pipeline's record limit, so
// that what a request holds in memory is bounded by that limit and the
// body limit.

// ndjsonTypes are the media types of newline-delimited JSON.
var ndjsonTypes = map[string]bool{
	"application/x-ndjson": true, "application/ndjson": true,
	"application/jsonl": true, "application/x-jsonl": true,
	"application/jsonlines": true, "application/x-jsonlines": true,
}

// isNDJSON reports whether the Content-Type names newline-delimited JSON.
func isNDJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && ndjsonTypes[mt]
}

func badJSON(format string, args ...any) *BadJSONError {
	return &BadJSONError{Detail: fmt.Sprintf(format, args...)}
}

var errEmpty = badJSON("The body is empty; send a JSON object, a JSON array of objects, or NDJSON.")

// decodeBody decodes a webhook payload read from r into the engine's
// inputs: a JSON object is one input, a JSON array one input per element,
// NDJSON one per non-blank line. Numbers stay json.Number, as the mapping
// wants them. Without an NDJSON Content-Type, a body holding several JSON
// values on separate lines is NDJSON. Malformed input fails as a whole
// (*BadJSONError), naming the line (NDJSON) or the byte offset (JSON); more
// than maxRecords inputs fail with *TooManyRecordsError as soon as the one
// too many is reached. An error of r (see openBody) is returned as is, and
// wins over malformed JSON: the rest of a malformed body is read (not
// kept) to find it, so that a body over its limit is refused as such.
//
// A body read whole (JSON up to headSize) is decoded at once, by
// jsonvalue; if jsonvalue declines it, by encoding/json, at once when it
// is no bigger than wholeSlow. Any other is decoded in turn (see
// engine.Turn): holding a slot of the team's CPU
// share while it decodes, and none while it waits for the network, so
// that a team sending huge bodies decodes them in its share of the
// node's CPU, and on a thread of low priority. Waiting for a slot fails
// only when ctx ends (ErrCanceled).
func decodeBody(ctx context.Context, r io.Reader, ndjson bool, maxRecords int, turn *engine.Turn) ([]any, error) {
	var head []byte
	streamed := true
	if !ndjson {
		bp := heads.Get().(*[]byte)
		defer heads.Put(bp)
		var whole bool
		var err error
		if head, whole, err = readHead(r, *bp); err != nil {
			return nil, err
		}
		if whole {
			if in, ok := parseWhole(head, maxRecords); ok {
				return in, nil
			}
			// Declined (malformed, or too many records): encoding/json
			// explains it, at once if the body is small, else in turn.
			if len(head) <= wholeSlow {
				r, streamed = bytes.NewReader(head), false
			}
		}
	}
	pace := engine.Unshared()
	var tr *turnReader
	if streamed {
		pace, tr = turn, &turnReader{ctx: ctx, r: r, turn: turn}
		r = io.MultiReader(bytes.NewReader(head), tr)
	}
	if err := pace.Take(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCanceled, err)
	}
	defer pace.Leave()
	t := &trap{r: r}
	var (
		out []any
		err error
	)
	if streamed {
		// Perhaps big: decoded at low priority (see internal/lowpriority).
		lowpriority.Run(func() { out, err = decodeFrom(t, pace, ndjson, maxRecords) })
	} else {
		out, err = decodeFrom(t, pace, ndjson, maxRecords)
	}
	if err == nil {
		return out, nil
	}
	if t.err == nil {
		var bad *BadJSONError
		if errors.As(err, &bad) {
			// Draining is reading, not decoding: outside the turn, and
			// deaf to ctx, which would turn the answer into ErrCanceled.
			pace.Leave()
			if tr != nil {
				tr.turn = nil
			}
			_, _ = io.Copy(io.Discard, t)
		}
	}
	if t.err != nil {
		return nil, t.err
	}
	return nil, err
}

// headSize is how much of a JSON body is read before it is decoded. A
// body that fits is decoded from memory (parseWhole), outside its team's
// turn: at jsonvalue's 5 ns a byte, 32 KiB take about as long as 16 KiB
// did with encoding/json, the bound before jsonvalue. A bigger body is
// streamed, in turn and at low priority (an array element by element, see
// decodeStreamedArray), which costs a record about 1.6 times as much as
// decoding from memory (docs/benchmarks.md); a request of 100 records is
// about 20 KiB.
const headSize = 32 << 10

// wholeSlow is the biggest body that encoding/json decodes at once,
// outside the turn, when jsonvalue declined it: the bound of before
// jsonvalue.
const wholeSlow = 16 << 10

var heads = sync.Pool{New: func() any { b := make([]byte, headSize); return &b }}

// readHead reads the start of r into buf and reports whether that is all
// of it. An error of r is returned as is.
func readHead(r io.Reader, buf []byte) (head []byte, whole bool, err error) {
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return buf[:n], false, nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:n], true, nil
	default:
		return nil, false, err
	}
}

// parseWhole decodes a body read whole that is a JSON object or an array
// of at most maxRecords values, as decodeFrom would, but faster
// (jsonvalue). ok is false for anything else, which decodeFrom then
// decodes or explains.
func parseWhole(b []byte, maxRecords int) (in []any, ok bool) {
	v, ok := jsonvalue.Parse(b)
	if !ok {
		return nil, false
	}
	switch x := v.(type) {
	case map[string]any:
		return []any{x}, true
	case []any:
		return x, len(x) <= maxRecords
	}
	return nil, false
}

// trap counts the bytes read from r and keeps its first error other than
// EOF.
type trap struct {
	r   io.Reader
	n   int64
	err error
}

func (t *trap) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func decodeFrom(t *trap, pace *engine.Turn, ndjson bool, maxRecords int) ([]any, error) {
	br := bufio.NewReader(t)
	if ndjson {
		return decodeNDJSON(br, pace, 0, maxRecords)
	}
	// Skip the leading white space, keeping what NDJSON detection needs
	// of it: its line breaks and the white space of its last line.
	var (
		lead     int64
		lines    int
		lastLine []byte
	)
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return nil, errEmpty
		}
		if err != nil {
			return nil, err
		}
		if !isSpace(c) {
			_ = br.UnreadByte()
			break
		}
		lead++
		if c == '\n' {
			lines++
			lastLine = lastLine[:0]
		} else {
			lastLine = append(lastLine, c)
		}
	}
	if first, _ := br.Peek(1); first[0] == '[' {
		return decodeStreamedArray(br, pace, t, lead, maxRecords)
	}
	dec := json.NewDecoder(br)
	dec.UseNumber()
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, badJSON("The body is not valid JSON: %s.", jsonProblem(err, t.n, lead))
	}
	var v any
	vd := json.NewDecoder(bytes.NewReader(raw))
	vd.UseNumber()
	if err := vd.Decode(&v); err != nil {
		return nil, badJSON("The body is not valid JSON: %s.", jsonProblem(err, t.n, lead))
	}
	between, rest, err := trailing(dec, br, lead)
	if err != nil {
		// More values: NDJSON sent as JSON, if a line break separates them.
		var bad *BadJSONError
		if _, isObj := v.(map[string]any); isObj && errors.As(err, &bad) && bytes.IndexByte(between, '\n') >= 0 {
			replay := append(append(lastLine, raw...), between...)
			return decodeNDJSON(bufio.NewReader(io.MultiReader(bytes.NewReader(replay), rest)), pace, lines, maxRecords)
		}
		return nil, err
	}
	if m, ok := v.(map[string]any); ok {
		return []any{m}, nil
	}
	return nil, badJSON("The body must be a JSON object, a JSON array of objects, or NDJSON; it is a single JSON %s.", jsonKind(v))
}

// decodeWork is what decoding one record counts in its turn's slices of
// work (engine.Turn.Work): a slice is then about 128 small records, or
// 0.2 ms. A turn outside the share still gives the other goroutines of
// its processor a chance to run between slices, which the Go scheduler
// would otherwise take back only after 10 ms.
const decodeWork = 32

// turnReader reads from r outside its turn: the slot is left while the
// network is waited for, and taken again before decoding goes on. Taken
// again, it waits in its team's queue like any request of the team's. A
// turnReader without a turn reads through.
type turnReader struct {
	ctx  context.Context
	r    io.Reader
	turn *engine.Turn
}

func (t *turnReader) Read(p []byte) (int, error) {
	if t.turn == nil { // draining
		return t.r.Read(p)
	}
	t.turn.Leave()
	n, err := t.r.Read(p)
	if terr := t.turn.Take(t.ctx); terr != nil {
		return n, fmt.Errorf("%w: %w", ErrCanceled, terr)
	}
	return n, err
}

// elementProblem describes a decode error of the n-th element of an array,
// which starts after byte start. The offsets of json.Decoder's syntax
// errors within a stream decoded token by token are not reliable, so the
// element and where it starts name the place.
func elementProblem(err error, t *trap, lead int64, n int, start int64) *BadJSONError {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return badJSON("The body is not valid JSON: %s in element %d of the array, which starts after byte %d.",
			strings.TrimPrefix(syn.Error(), "json: "), n, start)
	}
	return badJSON("The body is not valid JSON: %s.", jsonProblem(err, t.n, lead))
}

// trailing reads what follows the JSON value dec decoded from br: white
// space to the end is fine; anything else fails with a *BadJSONError, and
// the white space before it is returned with a reader of what follows it.
func trailing(dec *json.Decoder, br *bufio.Reader, lead int64) ([]byte, *bufio.Reader, error) {
	end := lead + dec.InputOffset()
	rest := bufio.NewReader(io.MultiReader(dec.Buffered(), br))
	var between []byte
	for {
		c, err := rest.ReadByte()
		if err == io.EOF {
			return between, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if !isSpace(c) {
			_ = rest.UnreadByte()
			break
		}
		between = append(between, c)
	}
	return between, rest, dataAfter(end)
}

// dataAfter is the error of a body holding more than the JSON value that
// ended end bytes into it.
func dataAfter(end int64) *BadJSONError {
	return badJSON("The body is not valid JSON: unexpected data after the JSON value at byte %d; send one JSON value, or NDJSON with one object per line.", end)
}

// decodeNDJSON decodes one JSON value per non-blank line, numbering the
// lines from line+1.
func decodeNDJSON(br *bufio.Reader, pace *engine.Turn, line, maxRecords int) ([]any, error) {
	out := []any{}
	for {
		text, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(text) == 0 && err == io.EOF {
			break
		}
		line++
		text = bytes.TrimSuffix(text, []byte("\n"))
		if len(bytes.TrimSpace(text)) > 0 {
			if len(out) >= maxRecords {
				return nil, &TooManyRecordsError{Limit: maxRecords}
			}
			v, err := decodeLine(text, line)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			pace.Work(decodeWork)
		}
		if err == io.EOF {
			break
		}
	}
	if len(out) == 0 {
		return nil, errEmpty
	}
	return out, nil
}

// decodeLine decodes the NDJSON line numbered line: fast (jsonvalue),
// or with encoding/json, which explains what is wrong.
func decodeLine(text []byte, line int) (any, error) {
	if v, ok := jsonvalue.Parse(text); ok {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badJSON("Line %d is not valid JSON: %s.", line, jsonProblem(err, int64(len(text)), 0))
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(text[off:])) > 0 {
		return nil, badJSON("Line %d is not valid JSON: unexpected data after the JSON value at byte %d of the line; NDJSON holds one value per line.", line, off+1)
	}
	return v, nil
}

// jsonProblem describes a decode error of a text of size bytes with its
// position; the decoder started at byte base of the text.
func jsonProblem(err error, size, base int64) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s at byte %d", strings.TrimPrefix(syn.Error(), "json: "), base+syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Sprintf("it ends early, after byte %d", size)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	}
	return "value"
}
