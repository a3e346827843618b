package postgres

import (
	"context"
	"encoding/binary"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
)

// Records are copied in PostgreSQL's binary COPY format, written here
// rather than by pgx.CopyFrom: the table's columns and their types are
// known, and encoding each value through pgx's type map (a plan lookup
// and an interface conversion per value) was 5–6% of the server's CPU
// when ingesting 100-record requests. The format is PostgreSQL's
// (https://www.postgresql.org/docs/current/sql-copy.html, "Binary
// Format"): a header, then per row the number of fields and each field
// as its length and its binary send format, then a trailer.

// copyRecordsSQL copies rows of records in the binary format.
const copyRecordsSQL = `COPY records (id, team_id, pipeline_id, ts, version, size, data) FROM STDIN (FORMAT binary)`

// copyHeader is the binary format's signature, flags and header
// extension length; copyTrailer ends the rows (a field count of -1).
var (
	copyHeader  = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	copyTrailer = []byte{0xff, 0xff}
)

// postgresEpoch is where PostgreSQL's timestamps count from.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// copyRecords copies recs of one pipeline into records in tx. jsonb
// tells the type of records.data (recordData).
func copyRecords(ctx context.Context, tx pgx.Tx, team, pipe [16]byte, version int32, recs []core.Record, jsonb bool) error {
	r := &recordsReader{team: team, pipe: pipe, version: version, recs: recs, jsonb: jsonb, pending: copyHeader}
	_, err := tx.Conn().PgConn().CopyFrom(ctx, r, copyRecordsSQL)
	return err
}

// recordsReader reads records in the binary COPY format as pgx sends
// them (in pieces of 64 KB): a row's fixed fields from a small buffer,
// its data from the record itself, so a batch is never copied whole.
type recordsReader struct {
	team, pipe [16]byte
	version    int32
	recs       []core.Record
	jsonb      bool
	next       int    // the record whose row comes after pending
	pending    []byte // what is still to read of the header, a row's fixed fields or the trailer
	data       []byte // what is still to read of the current record's data
	ended      bool   // the trailer is pending or read
	row        [96]byte
}

func (r *recordsReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(r.pending) > 0:
			c := copy(p[n:], r.pending)
			r.pending, n = r.pending[c:], n+c
		case len(r.data) > 0:
			c := copy(p[n:], r.data)
			r.data, n = r.data[c:], n+c
		case r.next < len(r.recs):
			rec := &r.recs[r.next]
			r.next++
			r.pending = appendRowHead(r.row[:0], r.team, r.pipe, r.version, rec, r.jsonb)
			r.data = rec.Data
		case !r.ended:
			r.pending, r.ended = copyTrailer, true
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
	}
	return n, nil
}

// appendRowHead appends a record's row up to its data: the field count,
// the fixed fields and the data's length (and jsonb's version byte).
func appendRowHead(b []byte, team, pipe [16]byte, version int32, r *core.Record, jsonb bool) []byte {
	be := binary.BigEndian
	b = be.AppendUint16(b, 7) // fields
	b = be.AppendUint32(b, 8)
	b = be.AppendUint64(b, uint64(r.ID))
	b = be.AppendUint32(b, 16)
	b = append(b, team[:]...)
	b = be.AppendUint32(b, 16)
	b = append(b, pipe[:]...)
	// timestamptz: microseconds since 2000-01-01 UTC.
	b = be.AppendUint32(b, 8)
	us := (r.TS.Unix()-postgresEpoch)*1_000_000 + int64(r.TS.Nanosecond()/1000)
	b = be.AppendUint64(b, uint64(us))
	b = be.AppendUint32(b, 4)
	b = be.AppendUint32(b, uint32(version))
	b = be.AppendUint32(b, 4)
	b = be.AppendUint32(b, uint32(len(r.Data)))
	// json is sent as its text; jsonb as a version byte (1), then its
	// text.
	if jsonb {
		b = be.AppendUint32(b, uint32(len(r.Data)+1))
		return append(b, 1)
	}
	return be.AppendUint32(b, uint32(len(r.Data)))
}
