package sink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
)

// Deliver stages the batch; see the comment at the top of this file.
func (s *blobSink) Deliver(ctx context.Context, b Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	for i, r := range b.Records {
		if err := checkRecord(s.p.format, b.Fields, r); err != nil {
			return Permanent(fmt.Errorf("blob: record %d cannot be written as %s: %w", i, s.p.format, err))
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("blob: sink is closed")
	}
	s.mu.Unlock()

	start := windowStart(s.now(), s.p.roll)
	scope := s.scopeDir(b.PipelineID, b.Sink)
	winDir := scope + start.Format(windowLayout) + "/"
	pieces := encodePieces(b)
	staged := make(map[string]int64, len(pieces))
	for i, p := range pieces {
		key := fmt.Sprintf("%s%s/%s.%d.json", winDir, s.instance, deliveryKey(b.DeliveryID), i)
		if err := s.write(ctx, key, p.data, "application/x-ndjson"); err != nil {
			return blobError("blob: write batch", err)
		}
		staged[key] = p.recordBytes
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// Closed meanwhile: the batch is staged, and adopted later.
		return nil
	}
	s.scopes[scope] = true
	w := s.own[winDir]
	if w == nil {
		w = &ownWindow{start: start, pieces: map[string]int64{}}
		s.own[winDir] = w
	}
	maps.Copy(w.pieces, staged) // a retried delivery overwrites its own keys
	if !s.started && !s.manual {
		s.started = true
		go s.run()
	}
	if w.size() >= s.p.maxBytes {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// windowStart is the start of the roll window t falls in; windows are
// aligned to the Unix epoch, so a 15m roll starts windows at :00, :15, :30
// and :45 on every node.
func windowStart(t time.Time, roll time.Duration) time.Time {
	sec := int64(roll / time.Second)
	u := t.Unix()
	return time.Unix(u-u%sec, 0).UTC()
}

func (s *blobSink) scopeDir(pipelineID uuid.UUID, sinkName string) string {
	return s.p.prefix + stagingDir + pipelineID.String() + "/" + safeName(sinkName) + "/"
}

// pieceHeader is the first line of a staging object.
type pieceHeader struct {
	Version    int          `json:"tributary_piece"`
	DeliveryID string       `json:"delivery_id"`
	Pipeline   string       `json:"pipeline"`
	Sink       string       `json:"sink"`
	Fields     []pieceField `json:"fields"`
}

type pieceField struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// pieceRecord is every further line of a staging object.
type pieceRecord struct {
	TS   time.Time       `json:"ts"`
	ID   int64           `json:"id,omitempty"`
	Data json.RawMessage `json:"data"`
}

// piece is an encoded staging object.
type piece struct {
	data        []byte
	recordBytes int64 // the size of the records' JSON in it
}

// encodePieces encodes a batch as one staging object, or several when it
// is larger than blobPieceBytes.
func encodePieces(b Batch) []piece {
	h := pieceHeader{Version: 1, DeliveryID: b.DeliveryID, Pipeline: b.Pipeline, Sink: b.Sink}
	for _, f := range b.Fields {
		h.Fields = append(h.Fields, pieceField(f))
	}
	header, _ := json.Marshal(h) // plain strings: cannot fail
	var out []piece
	var cur piece
	for _, r := range b.Records {
		if len(cur.data) == 0 {
			cur.data = append(append(cur.data, header...), '\n')
		}
		line, _ := json.Marshal(pieceRecord{TS: r.TS.UTC(), ID: r.ID, Data: compactJSON(r.Data)})
		cur.data = append(append(cur.data, line...), '\n')
		cur.recordBytes += int64(len(r.Data))
		if len(cur.data) >= blobPieceBytes {
			out = append(out, cur)
			cur = piece{}
		}
	}
	if len(cur.data) > 0 {
		out = append(out, cur)
	}
	return out
}

// compactJSON returns data without insignificant white space (a
// json.RawMessage with a newline inside would break a staging object's
// lines; json.Marshal compacts it anyway, this only makes it explicit).
func compactJSON(data json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return data // checked by checkRecord before
	}
	return buf.Bytes()
}

// decodePiece reads a staging object.
func decodePiece(data []byte) (pieceHeader, []core.Record, error) {
	var h pieceHeader
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	if !sc.Scan() {
		return h, nil, errors.New("empty staging object")
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Version != 1 {
		return h, nil, errors.New("not a version 1 staging object")
	}
	var recs []core.Record
	for sc.Scan() {
		var pr pieceRecord
		if err := json.Unmarshal(sc.Bytes(), &pr); err != nil {
			return h, nil, fmt.Errorf("record line %d: %w", len(recs)+1, err)
		}
		recs = append(recs, core.Record{ID: pr.ID, TS: pr.TS, Data: pr.Data})
	}
	return h, recs, sc.Err()
}

// safeName makes a name usable as one path segment: letters, digits, '.',
// '_' and '-' are kept, anything else becomes '_', and so does a dot at
// either end (no hidden files, and nothing a file system or fileblob reads
// as "..").
func safeName(s string) string {
	b := []byte(s)
	if len(b) > 100 {
		b = b[:100]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	if b[0] == '.' {
		b[0] = '_'
	}
	if b[len(b)-1] == '.' {
		b[len(b)-1] = '_'
	}
	return string(b)
}

// deliveryKey is a delivery id fit for a key: itself when it is short and
// plain, else a hash of it.
func deliveryKey(id string) string {
	if id != "" && len(id) <= 100 && safeName(id) == id {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}
