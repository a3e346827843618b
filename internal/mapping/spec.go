package mapping

// Spec is the mapping section of a pipeline spec: where the records are in
// an input, how to find each record's event time, and how to build the
// mapped record. The zero Spec passes records through unchanged.
//
// The mapped record is built in one of three ways:
//   - Fields: one entry per target field, each read from a path, optionally
//     transformed by an expression, converted to a type;
//   - Expr: one expression that returns the whole record as a map;
//   - neither: the input record itself (it must be a JSON object).
type Spec struct {
	// Records is the dotted path to the array of records in the input, such
	// as "data.items". Empty means the whole input: an object is one record,
	// an array is a list of records.
	Records string `json:"records,omitempty"`
	// Timestamp says where each record's event time is. Without it, the
	// event time is the mapped record's top-level "ts" when that is an
	// RFC 3339 string, and otherwise the arrival time of the batch.
	Timestamp *TimestampSpec `json:"timestamp,omitempty"`
	// Fields maps target field names to how each is computed. Field names
	// are literal keys of the mapped record (a dot in a name is not a path).
	Fields map[string]FieldSpec `json:"fields,omitempty"`
	// Expr is an expression that returns the whole mapped record as a map.
	// It cannot be combined with Fields.
	Expr string `json:"expr,omitempty"`
	// KeepUnmapped copies the top-level fields of an input object that
	// Fields does not set into the mapped record.
	KeepUnmapped bool `json:"keep_unmapped,omitempty"`
}

// TimestampSpec says how to find a record's event time.
type TimestampSpec struct {
	// Path is the dotted path to the time in the input record.
	Path string `json:"path,omitempty"`
	// Format is how the time is written: "rfc3339" (the default; also
	// accepts a space instead of "T"), "unix" (seconds, integer or
	// fractional), "unix_ms", "unix_us", "unix_ns" (numbers or numeric
	// strings), a Go layout such as "2006-01-02 15:04:05", or a strftime
	// layout such as "%d/%m/%Y %H:%M:%S" (directives Y y m d e H I M S f z :z
	// Z b h B a A p j T D F R %; -m -d -I drop the leading zero).
	Format string `json:"format,omitempty"`
	// Timezone is the IANA time zone of layouts that carry no offset
	// (default UTC).
	Timezone string `json:"timezone,omitempty"`
	// Expr optionally computes the time: `value` is the value at Path (nil
	// without a Path) and `record` the input record. It may return a time
	// (parseTime, date) or a value that Format then parses.
	Expr string `json:"expr,omitempty"`
}

// FieldSpec says how one field of the mapped record is computed: the value at
// Path, passed through Expr, converted to Type. A missing or null result is
// replaced by Default; without a Default it fails the record when Required
// and leaves the field out otherwise.
type FieldSpec struct {
	// Path is the dotted path to the value in the input record, with array
	// indexes as segments ("items.0.id", "items.-1.id" for the last one).
	// Empty means the input field with the target's name.
	Path string `json:"path,omitempty"`
	// Expr optionally transforms the value: `value` is the value at Path and
	// `record` the whole input record (see the package documentation for
	// the functions). When Path is set and the value there is missing or
	// null, Expr is not evaluated and the field is null. Without a Path, Expr
	// always runs, so it can compute a field from other fields of record.
	Expr string `json:"expr,omitempty"`
	// Type is one of string, number, integer, boolean, time, object, array;
	// empty accepts any JSON value.
	Type string `json:"type,omitempty"`
	// Format is how a time field is written in the input (as in
	// TimestampSpec.Format); only for Type "time".
	Format string `json:"format,omitempty"`
	// Required fails the record when the value is missing or null.
	Required bool `json:"required,omitempty"`
	// Default replaces a missing or null value; it must have the Type.
	Default any `json:"default,omitempty"`
}

// IsZero reports whether the spec maps nothing, that is, passes records
// through unchanged.
func (s Spec) IsZero() bool {
	return s.Records == "" && s.Timestamp == nil && len(s.Fields) == 0 && s.Expr == "" && !s.KeepUnmapped
}
