// Package mapping turns the records of a source into Tributary records: it
// finds the records in a decoded input, reads each record's event time, and
// builds the mapped fields from paths, expressions and declared types.
//
// A pipeline's Spec is compiled once per pipeline version with Compile, which
// checks paths, types, formats and expressions and reports every problem with
// its place in the spec (and line and column inside expressions) as a
// *CompileError, so an API can refuse a bad spec on save. The resulting
// *Mapping is immutable and shared by all the goroutines that process the
// pipeline's batches.
//
// # Flow of one input
//
// Apply takes the decoded body of a webhook request or a poll (decoded with
// json.Decoder.UseNumber preferably; float64 numbers work too), finds the
// array at Spec.Records (or takes the body: an object is one record, an array
// many), and maps each record independently into a Result:
//
//   - fields: for each target field, the value at its path, passed through
//     its expression (skipped when the path's value is missing or null),
//     replaced by its default when missing or null, then converted to its
//     type; or the result of the record expression; or the input object
//     itself;
//   - event time: from the timestamp spec, else the mapped record's "ts" when
//     it is an RFC 3339 string, else the arrival time;
//   - a record that fails gets Result.Err naming the field and the reason,
//     and the other records are unaffected: the engine stores it as a
//     rejected record with its raw input.
//
// Output values are JSON values with numbers as int64 (integers that fit)
// or float64 and times as RFC 3339 strings in UTC.
//
// # Types
//
// string accepts strings and renders numbers and booleans as text; number
// accepts numbers and numeric strings; integer also refuses fractions;
// boolean accepts true/false, "true"/"false" (any case), "1"/"0", 1 and 0;
// time parses RFC 3339 (or the field's format) and yields RFC 3339 in UTC;
// object and array check the shape. An empty type accepts any JSON value.
//
// # Expressions
//
// Expressions are github.com/expr-lang/expr expressions. They see only
// `value` (the value at the field's path), `record` (the input record, with
// numbers as int64 or float64), `arrival` (the batch's arrival time) and the
// functions: expr's builtins (upper, lower, trim, trimPrefix, trimSuffix,
// split, splitAfter, indexOf, hasPrefix, hasSuffix, len, abs, ceil, floor,
// int, float, max, min, sum, mean, median, first, last, keys, values, sort,
// uniq, concat, fromJSON, toBase64, fromBase64, duration, map, filter, all,
// any, count, reduce, ...), bounded versions of replace, repeat, join, string,
// toJSON, flatten, split, splitAfter and fromJSON, and:
//
//	round(x[, places])               round half away from zero
//	toNumber(v) toInt(v) toBool(v)   casts with the rules of the field types
//	toString(v)                      text; objects and arrays as JSON
//	regexMatch(s, re)                RE2 syntax; patterns are cached
//	regexExtract(s, re[, group])     first match (group 1 if any), or nil
//	regexReplace(s, re, repl)        $1 and ${name} refer to groups
//	parseTime(v[, format[, tz]])     format as in TimestampSpec.Format
//	formatTime(t[, format[, tz]])    to text, RFC 3339 in UTC by default
//	date(s[, layout[, tz]])          like parseTime, tries common layouts
//	timezone(name)                   a location for t.In(...)
//	unix(t) unixMilli(t)             epoch seconds, milliseconds
//	coalesce(a, b, ...)              the first argument that is not nil
//	default(v, d)                    d when v is nil or ""
//	sha256(v) sha1(v) md5(v)         lower-case hex digest of the text of v
//
// Reading a member of null is an error (record.a.b when a is missing); use
// record?.a?.b or a path. Expressions are deterministic: they cannot read
// the clock (now is not available), the environment, files or the network.
//
// # Sandbox
//
// Expressions run in a sandbox so that a tenant's mapping cannot hang or
// exhaust a worker: expressions larger than MaxNodes are refused at compile
// time, and so are expressions whose loops over constant ranges and lists
// alone cost more than MaxOps. At run time an evaluation stops with an
// error after MaxOps operations in loops (each iteration costs the number of
// nodes of the loop's body), after producing or reading MaxBytes of strings
// and lists, or after building ranges and literals of a million elements
// (expr's memory budget). The limits count operations and bytes, never
// time, so the same input always gives the same result whatever the load.
// Functions whose output can be far larger than their input check the size
// before building it.
package mapping
