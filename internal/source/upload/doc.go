// Package upload reads the files users upload to a pipeline: CSV with a
// header row, a JSON array (or one JSON object), and NDJSON. It detects a
// file's format, turns the file into records one at a time from a stream
// (a file is never held in memory whole), and describes a broken file by
// where it breaks: the row and column of a CSV file, the line, column and
// byte offset of a JSON or NDJSON file.
//
// The HTTP API stores an upload in object storage and enqueues a job; the
// job (jobs.UploadWorker) reads the file twice with a Reader: once to
// check it and count its rows — a broken file fails before any of it is
// stored — and once to process it in chunks.
//
// # Records
//
// A CSV row becomes an object keyed by the header's names; a cell that is
// a JSON number (42, -1.5, 2e3; not 007 or +1) becomes a number, an empty
// cell null, anything else a string. The mapping's types convert further
// ("true" to a boolean, a date string to a time). A JSON array's elements
// and an NDJSON file's lines are records as they are; an array on an
// NDJSON line, or a JSON document that is a series of values, is unrolled
// the same way, one level deep.
package upload
