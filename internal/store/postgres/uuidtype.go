package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// uuidAsBytes registers uuidCodec for PostgreSQL's uuid on a new
// connection.
func uuidAsBytes(_ context.Context, conn *pgx.Conn) error {
	conn.TypeMap().RegisterType(&pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}})
	return nil
}

// uuidCodec is pgx's codec of uuid, but it writes and reads a
// uuid.UUID as the 16 bytes it is. pgx alone takes uuid.UUID for a
// driver.Valuer and sql.Scanner: every argument became its 36-character
// text and was parsed back (seven allocations and a formatted error
// each, 4% of a single-record request's CPU), and every scan went
// through text too. Values of other Go types, and other PostgreSQL
// types given a uuid.UUID, keep pgx's plans.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return encodeUUID{}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok && format == pgtype.BinaryFormatCode {
		return scanUUID{}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeUUID struct{}

func (encodeUUID) Encode(value any, buf []byte) ([]byte, error) {
	u := value.(uuid.UUID)
	return append(buf, u[:]...), nil
}

type scanUUID struct{}

// Scan reads NULL as the zero UUID, as uuid.UUID's own Scan does.
func (scanUUID) Scan(src []byte, target any) error {
	u := target.(*uuid.UUID)
	if src == nil {
		*u = uuid.UUID{}
		return nil
	}
	if len(src) != len(u) {
		return fmt.Errorf("scan uuid: %d bytes, not %d", len(src), len(u))
	}
	copy(u[:], src)
	return nil
}
