// Package schema validates mapped records against a pipeline's JSON Schema
// and infers a starting schema from sample records.
//
// Compile takes the validation document of a pipeline spec once per pipeline
// version. Documents without "$schema" are read as draft 2020-12; "format"
// is asserted (a "date-time" must be one). A schema may only reference
// itself: remote and file references are refused when compiling, so
// validation never touches the network or the disk. A bad document gives an
// error naming the place in the document.
//
// Validate checks one mapped record (mapping.Result.Fields.Map()) and
// returns nil or an error with a short reason per failing field, such as
// "temperature_c: must be <= 60 but found 75", bounded in length so that it
// can be stored with each rejected record. A nil *Schema validates
// everything, which is what a pipeline without validation has.
//
// A *Schema is immutable and safe for concurrent use.
package schema
