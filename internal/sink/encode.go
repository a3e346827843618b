package sink

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/tributary-dev/tributary/internal/core"
)

// Records leave Tributary as files (blob), rows (postgres) and messages
// (kafka). This file holds what those kinds share: reading a record's
// top-level members, converting a member to its declared type, and the
// three file formats. Every record is a JSON object; its event time, which
// the record's JSON may or may not carry, is always written as "ts".

// tsField is the name under which a record's event time is written.
const tsField = "ts"

// fileFormat is a file format of the blob sink.
type fileFormat string

// File formats.
const (
	formatNDJSON  fileFormat = "ndjson"
	formatCSV     fileFormat = "csv"
	formatParquet fileFormat = "parquet"
)

// ext is the file name extension of f, without the dot.
func (f fileFormat) ext() string { return string(f) }

// contentType is the media type of an uncompressed file of f.
func (f fileFormat) contentType() string {
	switch f {
	case formatCSV:
		return "text/csv"
	case formatParquet:
		return "application/vnd.apache.parquet"
	default:
		return "application/x-ndjson"
	}
}

// fileColumns returns the columns of a CSV or Parquet file of records with
// these fields: "ts" first, then the fields in their order, each name once.
// A field named "ts" is the event time itself and is not repeated.
func fileColumns(fields []Field) []Field {
	cols := make([]Field, 0, len(fields)+1)
	cols = append(cols, Field{Name: tsField, Type: "time"})
	seen := map[string]bool{tsField: true}
	for _, f := range fields {
		if f.Name == "" || seen[f.Name] {
			continue
		}
		seen[f.Name] = true
		cols = append(cols, f)
	}
	return cols
}

// recordMembers decodes the top-level members of a record's JSON object.
func recordMembers(data json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("record is not a JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("record is not a JSON object but null")
	}
	return m, nil
}

// appendJSONLine appends r's JSON object and a newline to dst, adding the
// event time as "ts" when the object has no "ts" member of its own.
func appendJSONLine(dst []byte, r core.Record) ([]byte, error) {
	data := bytes.TrimSpace(r.Data)
	m, err := recordMembers(data)
	if err != nil {
		return dst, err
	}
	if _, ok := m[tsField]; ok {
		dst = append(dst, data...)
		return append(dst, '\n'), nil
	}
	dst = append(dst, `{"ts":"`...)
	dst = r.TS.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if rest := bytes.TrimSpace(data[1:]); len(rest) > 0 && rest[0] != '}' {
		dst = append(dst, ',')
	}
	dst = append(dst, data[1:]...)
	return append(dst, '\n'), nil
}

// jsonNull reports whether a member is absent or JSON null.
func jsonNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// jsonText is a member as text: a string's contents, any other value's
// JSON. It is how CSV cells and undeclared fields are written.
func jsonText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	return string(raw), nil
}

// typedValue converts a member to the Go value of a declared field type:
// nil for an absent or null member, float64 for "number", int64 for
// "integer", bool for "boolean", time.Time for "time", json.RawMessage for
// "object" and "array", and a string (see jsonText) for "string" and
// undeclared fields. Strings holding a number, boolean or time are accepted
// for those types; anything else that does not fit is an error naming the
// field.
func typedValue(name, typ string, raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if jsonNull(raw) {
		return nil, nil
	}
	bad := func() error {
		return fmt.Errorf("field %q: %s is not a valid %s", name, valueExcerpt(raw), typ)
	}
	// A string holding the value is unwrapped for the scalar types.
	scalar := raw
	if raw[0] == '"' {
		s, err := jsonText(raw)
		if err != nil {
			return nil, bad()
		}
		scalar = json.RawMessage(strings.TrimSpace(s))
	}
	switch typ {
	case "number":
		f, err := strconv.ParseFloat(string(scalar), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, bad()
		}
		return f, nil
	case "integer":
		if i, err := strconv.ParseInt(string(scalar), 10, 64); err == nil {
			return i, nil
		}
		// 3.0 and 1e3 are integers too.
		f, err := strconv.ParseFloat(string(scalar), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, bad()
		}
		return int64(f), nil
	case "boolean":
		b, err := strconv.ParseBool(string(scalar))
		if err != nil {
			return nil, bad()
		}
		return b, nil
	case "time":
		if raw[0] != '"' {
			return nil, bad()
		}
		t, err := time.Parse(time.RFC3339Nano, string(scalar))
		if err != nil {
			return nil, bad()
		}
		return t, nil
	case "object", "array":
		return json.RawMessage(raw), nil
	default:
		s, err := jsonText(raw)
		if err != nil {
			return nil, bad()
		}
		return s, nil
	}
}

// valueExcerpt is the start of a JSON value for an error message.
func valueExcerpt(raw []byte) string {
	const max = 40
	raw = bytes.TrimSpace(raw)
	if len(raw) > max {
		return strings.ToValidUTF8(string(raw[:max]), "") + "…"
	}
	return string(raw)
}

// recordEncoder writes records of one set of fields to a file.
type recordEncoder interface {
	// Encode writes one record. An error for a record that does not fit
	// the fields leaves the encoder usable.
	Encode(r core.Record) error
	// Close writes what is buffered and the file's trailer, if any. It
	// does not close the underlying writer.
	Close() error
}

// newRecordEncoder returns an encoder of records with these fields to w in
// format f.
func newRecordEncoder(f fileFormat, w io.Writer, fields []Field) recordEncoder {
	switch f {
	case formatCSV:
		return newCSVEncoder(w, fields)
	case formatParquet:
		return newParquetEncoder(w, fields)
	default:
		return &ndjsonEncoder{w: w}
	}
}

// checkRecord reports whether r can be written in format f with these
// fields, without writing it: a delivery checks its records before it is
// acknowledged, so that a record that cannot be written is refused then
// rather than failing the file it is later written into.
func checkRecord(f fileFormat, fields []Field, r core.Record) error {
	switch f {
	case formatParquet:
		_, err := parquetValues(fileColumns(fields), r)
		return err
	case formatCSV:
		_, err := csvCells(fileColumns(fields), r)
		return err
	default:
		_, err := recordMembers(r.Data)
		return err
	}
}

// ndjsonEncoder writes one JSON object per line.
type ndjsonEncoder struct {
	w   io.Writer
	buf []byte
}

func (e *ndjsonEncoder) Encode(r core.Record) error {
	var err error
	e.buf, err = appendJSONLine(e.buf[:0], r)
	if err != nil {
		return err
	}
	_, err = e.w.Write(e.buf)
	return err
}

func (e *ndjsonEncoder) Close() error { return nil }

// csvEncoder writes a header row of the columns, then one row per record.
type csvEncoder struct {
	w      *csv.Writer
	cols   []Field
	header bool
}

func newCSVEncoder(w io.Writer, fields []Field) *csvEncoder {
	return &csvEncoder{w: csv.NewWriter(w), cols: fileColumns(fields)}
}

// csvCells returns r's cells: the event time in RFC 3339, text values of
// the fields (see jsonText), empty cells for absent and null ones.
func csvCells(cols []Field, r core.Record) ([]string, error) {
	m, err := recordMembers(r.Data)
	if err != nil {
		return nil, err
	}
	cells := make([]string, len(cols))
	cells[0] = r.TS.UTC().Format(time.RFC3339Nano)
	for i, c := range cols[1:] {
		raw := m[c.Name]
		if jsonNull(raw) {
			continue
		}
		if cells[i+1], err = jsonText(raw); err != nil {
			return nil, fmt.Errorf("field %q: %w", c.Name, err)
		}
	}
	return cells, nil
}

func (e *csvEncoder) Encode(r core.Record) error {
	cells, err := csvCells(e.cols, r)
	if err != nil {
		return err
	}
	if !e.header {
		names := make([]string, len(e.cols))
		for i, c := range e.cols {
			names[i] = c.Name
		}
		if err := e.w.Write(names); err != nil {
			return err
		}
		e.header = true
	}
	return e.w.Write(cells)
}

func (e *csvEncoder) Close() error {
	e.w.Flush()
	return e.w.Error()
}

// parquetNode is the Parquet column type of a declared field type.
// Undeclared fields are strings holding the value's text.
func parquetNode(typ string) parquet.Node {
	switch typ {
	case "number":
		return parquet.Leaf(parquet.DoubleType)
	case "integer":
		return parquet.Int(64)
	case "boolean":
		return parquet.Leaf(parquet.BooleanType)
	case "time":
		return parquet.Timestamp(parquet.Microsecond)
	case "object", "array":
		return parquet.JSON()
	default:
		return parquet.String()
	}
}

// parquetSchema is the schema of a Parquet file of records with these
// columns (see fileColumns): "ts" a required UTC timestamp in
// microseconds, every field optional, since a record may lack it.
func parquetSchema(cols []Field) *parquet.Schema {
	g := parquet.Group{}
	for i, c := range cols {
		if i == 0 {
			g[c.Name] = parquet.Timestamp(parquet.Microsecond)
			continue
		}
		g[c.Name] = parquet.Optional(parquetNode(c.Type))
	}
	return parquet.NewSchema("record", g)
}

// parquetValues converts r to one value per column, in the order of cols;
// nil is null.
func parquetValues(cols []Field, r core.Record) ([]parquet.Value, error) {
	m, err := recordMembers(r.Data)
	if err != nil {
		return nil, err
	}
	out := make([]parquet.Value, len(cols))
	out[0] = parquet.Int64Value(r.TS.UnixMicro())
	for i, c := range cols[1:] {
		v, err := typedValue(c.Name, c.Type, m[c.Name])
		if err != nil {
			return nil, err
		}
		var pv parquet.Value
		switch x := v.(type) {
		case nil:
			pv = parquet.NullValue()
		case float64:
			pv = parquet.DoubleValue(x)
		case int64:
			pv = parquet.Int64Value(x)
		case bool:
			pv = parquet.BooleanValue(x)
		case time.Time:
			pv = parquet.Int64Value(x.UnixMicro())
		case json.RawMessage:
			pv = parquet.ByteArrayValue(x)
		case string:
			pv = parquet.ByteArrayValue([]byte(x))
		}
		out[i+1] = pv
	}
	return out, nil
}

// parquetEncoder buffers rows and writes them in row groups.
type parquetEncoder struct {
	w    *parquet.GenericWriter[any]
	cols []Field
	// colIndex[i] is the schema's column index of cols[i]: Parquet orders
	// a group's columns by name.
	colIndex []int
	rows     []parquet.Row
}

// parquetRowsPerWrite is how many rows are handed to the writer at once.
const parquetRowsPerWrite = 1024

func newParquetEncoder(w io.Writer, fields []Field) *parquetEncoder {
	cols := fileColumns(fields)
	schema := parquetSchema(cols)
	index := map[string]int{}
	for i, path := range schema.Columns() {
		index[path[0]] = i
	}
	e := &parquetEncoder{
		w:        parquet.NewGenericWriter[any](w, schema, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(128*1024)),
		cols:     cols,
		colIndex: make([]int, len(cols)),
	}
	for i, c := range cols {
		e.colIndex[i] = index[c.Name]
	}
	return e
}

func (e *parquetEncoder) Encode(r core.Record) error {
	vals, err := parquetValues(e.cols, r)
	if err != nil {
		return err
	}
	row := make(parquet.Row, len(vals))
	for i, v := range vals {
		col := e.colIndex[i]
		switch {
		case i == 0: // required
			row[col] = v.Level(0, 0, col)
		case v.IsNull():
			row[col] = v.Level(0, 0, col)
		default:
			row[col] = v.Level(0, 1, col)
		}
	}
	e.rows = append(e.rows, row)
	if len(e.rows) >= parquetRowsPerWrite {
		return e.flush()
	}
	return nil
}

func (e *parquetEncoder) flush() error {
	if len(e.rows) == 0 {
		return nil
	}
	_, err := e.w.WriteRows(e.rows)
	e.rows = e.rows[:0]
	return err
}

func (e *parquetEncoder) Close() error {
	if err := e.flush(); err != nil {
		return err
	}
	return e.w.Close()
}
