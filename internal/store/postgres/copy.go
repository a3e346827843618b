package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
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
// as its length and its binary send format.

// copyRecordsSQL copies rows of records in the binary format.
const copyRecordsSQL = `COPY records (id, team_id, pipeline_id, ts, version, size, data) FROM STDIN (FORMAT binary)`

// copyHeader is the binary format's signature, flags and header
// extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// postgresEpoch is where PostgreSQL's timestamps count from.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

var copyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// copyRecords copies recs of one pipeline into records in tx. jsonb
// tells the type of records.data (recordData).
func copyRecords(ctx context.Context, tx pgx.Tx, team, pipe [16]byte, version int32, recs []core.Record, jsonb bool) error {
	bp := copyBuffers.Get().(*[]byte)
	b := appendCopyRecords((*bp)[:0], team, pipe, version, recs, jsonb)
	_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(b), copyRecordsSQL)
	if cap(b) <= 4<<20 { // do not pin one huge batch's buffer
		*bp = b
		copyBuffers.Put(bp)
	}
	return err
}

// appendCopyRecords appends the binary COPY of recs, header included,
// to b.
func appendCopyRecords(b []byte, team, pipe [16]byte, version int32, recs []core.Record, jsonb bool) []byte {
	b = append(b, copyHeader...)
	be := binary.BigEndian
	for i := range recs {
		r := &recs[i]
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
			b = append(b, 1)
		} else {
			b = be.AppendUint32(b, uint32(len(r.Data)))
		}
		b = append(b, r.Data...)
	}
	return append(b, 0xff, 0xff) // the trailer: -1 fields
}
