package postgres

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
)

// recordsReader gives the same bytes however small the reads: header,
// per record its fixed fields then its data, trailer.
func TestRecordsReaderPieces(t *testing.T) {
	recs := []core.Record{
		{ID: 1, TS: time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), Data: json.RawMessage(`{}`)},
		{ID: 2, TS: time.Now(), Data: json.RawMessage(`{"a":"` + strings.Repeat("x", 70_000) + `"}`)},
		{ID: 3, TS: time.Now(), Data: json.RawMessage(`[]`)},
	}
	read := func(size int, jsonb bool) []byte {
		r := &recordsReader{team: [16]byte{1}, pipe: [16]byte{2}, version: 3, recs: recs, jsonb: jsonb, pending: copyHeader}
		var out bytes.Buffer
		p := make([]byte, size)
		for {
			n, err := r.Read(p)
			out.Write(p[:n])
			if err == io.EOF {
				return out.Bytes()
			}
			if err != nil || n == 0 {
				t.Fatalf("Read = %d, %v", n, err)
			}
		}
	}
	for _, jsonb := range []bool{false, true} {
		want := append([]byte{}, copyHeader...)
		for i := range recs {
			want = appendRowHead(want, [16]byte{1}, [16]byte{2}, 3, &recs[i], jsonb)
			want = append(want, recs[i].Data...)
		}
		want = append(want, copyTrailer...)
		for _, size := range []int{1, 7, 96, 65536, 200_000} {
			if got := read(size, jsonb); !bytes.Equal(got, want) {
				t.Errorf("jsonb %v, reads of %d bytes: %d bytes, want %d", jsonb, size, len(got), len(want))
			}
		}
		// A row: 7 fields, then the id.
		if row := want[len(copyHeader):]; row[0] != 0 || row[1] != 7 || row[13] != 1 {
			t.Errorf("first row begins % x", row[:14])
		}
	}
}
