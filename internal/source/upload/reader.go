package upload

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tributary-dev/tributary/internal/core"
)

// FormatError says where and why a file is not valid in its format. Its
// message is what a user sees on the failed run and upload.
type FormatError struct {
	Format core.UploadFormat
	// Row is the CSV row (the header is row 1); 0 for JSON.
	Row int64
	// Line and Column are 1-based; Column counts bytes in the line. For
	// JSON they are 0 until Locate fills them from Offset.
	Line, Column int64
	// Offset is the byte offset of a JSON error from the file's start.
	Offset int64
	// Reason says what is wrong.
	Reason string

	// rescan means Offset is where the JSON value holding the error
	// starts (encoding/json does not tell where in the value it broke);
	// Locate finds the exact offset. comma means a ',' may come first.
	rescan, comma bool
}

func (e *FormatError) Error() string {
	switch {
	case e.Format == core.FormatCSV && e.Column > 0:
		return fmt.Sprintf("CSV row %d, column %d (line %d): %s", e.Row, e.Column, e.Line, e.Reason)
	case e.Format == core.FormatCSV && e.Row > 0 && e.Line > 0:
		return fmt.Sprintf("CSV row %d (line %d): %s", e.Row, e.Line, e.Reason)
	case e.Format == core.FormatCSV && e.Row > 0:
		return fmt.Sprintf("CSV row %d: %s", e.Row, e.Reason)
	case e.Format == core.FormatCSV:
		return "CSV: " + e.Reason
	case e.Line > 0:
		return fmt.Sprintf("%s line %d, column %d (byte offset %d): %s", formatName(e.Format), e.Line, e.Column, e.Offset, e.Reason)
	}
	return fmt.Sprintf("%s byte offset %d: %s", formatName(e.Format), e.Offset, e.Reason)
}

// Is makes errors.Is(err, core.ErrInvalid) true.
func (e *FormatError) Is(target error) bool { return target == core.ErrInvalid }

func formatName(f core.UploadFormat) string {
	if f == core.FormatNDJSON {
		return "NDJSON"
	}
	return "JSON"
}

// Locate fills the line and column of a JSON error (and makes its
// offset exact), reading the file again from its start (r). Nothing is
// done for a CSV error, whose position is known.
func (e *FormatError) Locate(r io.Reader) error {
	if e.Format == core.FormatCSV || e.Line > 0 {
		return nil
	}
	pos := position{line: 1, col: 1}
	br := bufio.NewReaderSize(r, 64<<10)
	for pos.offset < e.Offset {
		c, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		pos.advance(c)
	}
	if e.rescan {
		if err := pos.findError(br, e.comma); err != nil {
			return err
		}
		e.Offset = pos.offset
	}
	e.Line, e.Column = pos.line, pos.col
	return nil
}

// position is a place in a file.
type position struct {
	offset, line, col int64
}

func (p *position) advance(c byte) {
	p.offset++
	if c == '\n' {
		p.line, p.col = p.line+1, 1
	} else {
		p.col++
	}
}

// findError moves p from the start of a broken JSON value (or the comma
// before it) to the byte where it breaks.
func (p *position) findError(br *bufio.Reader, comma bool) error {
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.advance(c)
			continue
		case comma && c == ',':
			p.advance(c)
			comma = false
			continue
		case comma:
			return br.UnreadByte() // the comma is missing: it breaks here
		}
		if err := br.UnreadByte(); err != nil {
			return err
		}
		break
	}
	// A fresh decoder counts from the value's first byte.
	var seen bytes.Buffer
	dec := json.NewDecoder(io.TeeReader(br, &seen))
	var v any
	err := dec.Decode(&v)
	var se *json.SyntaxError
	n := int64(0)
	switch {
	case errors.As(err, &se):
		n = se.Offset - 1
	case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF:
		n = int64(seen.Len())
	}
	for _, c := range seen.Bytes()[:min(max(n, 0), int64(seen.Len()))] {
		p.advance(c)
	}
	return nil
}

// MaxRecordBytes bounds one record of a file (a CSV row, a JSON value):
// a parser holds a whole record in memory, so a file of one endless
// record must fail rather than exhaust it.
const MaxRecordBytes = 16 << 20

var errTooLong = errors.New("record too long")

var tooLong = fmt.Sprintf("a record is longer than %d MiB; split it, or check that the file's quotes are balanced", MaxRecordBytes>>20)

// guard fails a read that would take a parser more than MaxRecordBytes
// past the end of the last record it returned (mark).
type guard struct {
	r    io.Reader
	read int64
	mark func() int64
}

func (g *guard) Read(p []byte) (int, error) {
	if g.mark != nil && g.read-g.mark() > MaxRecordBytes {
		return 0, errTooLong
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

// Reader reads the records of a file, one at a time.
type Reader struct {
	format core.UploadFormat
	next   func() (any, error)
	rows   int64
}

// NewReader reads a file of format f from r.
func NewReader(f core.UploadFormat, r io.Reader) (*Reader, error) {
	g := &guard{r: r}
	br := bufio.NewReaderSize(g, 64<<10)
	skipped := 0
	if head, _ := br.Peek(len(bom)); bytes.Equal(head, bom) {
		_, _ = br.Discard(len(bom))
		skipped = len(bom)
	}
	rd := &Reader{format: f}
	switch f {
	case core.FormatCSV:
		c, err := newCSV(g, br)
		if err != nil {
			return nil, err
		}
		rd.next = c.next
	case core.FormatJSON, core.FormatNDJSON:
		j := newJSON(f, br, int64(skipped))
		g.mark = j.dec.InputOffset
		rd.next = j.next
	default:
		return nil, fmt.Errorf("%w: unknown upload format %q", core.ErrInvalid, f)
	}
	return rd, nil
}

// Next returns the next record, io.EOF after the last one, or a
// *FormatError where the file breaks (or the reader's error).
func (rd *Reader) Next() (any, error) {
	v, err := rd.next()
	if err == nil {
		rd.rows++
	}
	return v, err
}

// Rows is how many records Next returned.
func (rd *Reader) Rows() int64 { return rd.rows }

// Skip reads and drops n records.
func (rd *Reader) Skip(n int64) error {
	for range n {
		if _, err := rd.Next(); err != nil {
			if err == io.EOF {
				return fmt.Errorf("upload: the file has fewer than %d records", n)
			}
			return err
		}
	}
	return nil
}

// Count reads a whole file and returns how many records it holds, or the
// *FormatError where it breaks.
func Count(f core.UploadFormat, r io.Reader) (int64, error) {
	rd, err := NewReader(f, r)
	if err != nil {
		return 0, err
	}
	for {
		if _, err := rd.next(); err != nil {
			if err == io.EOF {
				return rd.rows, nil
			}
			return rd.rows, err
		}
		rd.rows++
	}
}

// CSV.

type csvReader struct {
	r      *csv.Reader
	header []string
	row    int64 // rows read, the header included
}

func newCSV(g *guard, br *bufio.Reader) (*csvReader, error) {
	c := &csvReader{r: csv.NewReader(br)}
	g.mark = c.r.InputOffset
	c.r.Comma = sniffDelimiter(br)
	c.r.ReuseRecord = true
	header, err := c.r.Read()
	if err == io.EOF {
		return nil, &FormatError{Format: core.FormatCSV, Reason: "the file is empty; it needs a header row naming the fields"}
	}
	c.row = 1
	if err != nil {
		return nil, c.parseError(err, len(header))
	}
	c.header = make([]string, len(header))
	seen := make(map[string]int, len(header))
	for i, name := range header {
		name = strings.TrimSpace(name)
		_, col := c.r.FieldPos(i)
		switch prev, dup := seen[name]; {
		case name == "":
			return nil, &FormatError{Format: core.FormatCSV, Row: 1, Line: 1, Column: int64(col),
				Reason: fmt.Sprintf("header field %d is empty; every column needs a name", i+1)}
		case dup:
			return nil, &FormatError{Format: core.FormatCSV, Row: 1, Line: 1, Column: int64(col),
				Reason: fmt.Sprintf("header field %d, %q, repeats field %d; column names must be unique", i+1, name, prev+1)}
		}
		seen[name] = i
		c.header[i] = name
	}
	return c, nil
}

// sniffDelimiter picks ',' unless the header line has none but has ';'
// or a tab.
func sniffDelimiter(br *bufio.Reader) rune {
	head, _ := br.Peek(64 << 10)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	switch {
	case bytes.IndexByte(head, ',') >= 0:
		return ','
	case bytes.IndexByte(head, ';') >= 0:
		return ';'
	case bytes.IndexByte(head, '\t') >= 0:
		return '\t'
	}
	return ','
}

func (c *csvReader) next() (any, error) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	c.row++
	if err != nil {
		return nil, c.parseError(err, len(rec))
	}
	m := make(map[string]any, len(rec))
	for i, cell := range rec {
		m[c.header[i]] = cellValue(cell)
	}
	return m, nil
}

// parseError describes a CSV error of the current row, which had fields
// fields when the error is a wrong field count.
func (c *csvReader) parseError(err error, fields int) error {
	if errors.Is(err, errTooLong) {
		return &FormatError{Format: core.FormatCSV, Row: c.row, Reason: tooLong}
	}
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read CSV row %d: %w", c.row, err)
	}
	fe := &FormatError{Format: core.FormatCSV, Row: c.row, Line: int64(pe.Line), Column: int64(pe.Column)}
	switch {
	case errors.Is(pe.Err, csv.ErrFieldCount):
		// Read returns the record with the error: name the first missing
		// or extra column.
		n := c.r.FieldsPerRecord
		if got := fields; got > 0 && got != n {
			fe.Column = 0
			if got < n {
				fe.Reason = fmt.Sprintf("has %d fields but the header has %d: column %d (%q) and after are missing", got, n, got+1, c.header[got])
			} else {
				fe.Reason = fmt.Sprintf("has %d fields but the header has %d: column %d is extra", got, n, n+1)
			}
			return fe
		}
		fe.Reason = fmt.Sprintf("the number of fields differs from the header's %d", n)
	case errors.Is(pe.Err, csv.ErrBareQuote):
		fe.Reason = `a quote (") inside a field that does not start with one; quote the whole field and double the quote ("")`
	case errors.Is(pe.Err, csv.ErrQuote):
		fe.Reason = `a quoted field is not closed, or its closing quote is followed by other characters`
	default:
		fe.Reason = pe.Err.Error()
	}
	return fe
}

// cellValue turns a CSV cell into a JSON value: a number when the cell is
// a JSON number, null when empty, else the string.
func cellValue(s string) any {
	if s == "" {
		return nil
	}
	if isJSONNumber(s) {
		return json.Number(s)
	}
	return s
}

// isJSONNumber reports whether s follows JSON's number grammar.
func isJSONNumber(s string) bool {
	i := 0
	if s[i] == '-' {
		i++
		if i == len(s) {
			return false
		}
	}
	switch {
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// JSON and NDJSON.

type jsonReader struct {
	format  core.UploadFormat
	dec     *json.Decoder
	base    int64 // bytes before the decoder's input (a byte-order mark)
	inArray bool
	elems   int // elements read of the current array
	err     error
}

func newJSON(f core.UploadFormat, r io.Reader, base int64) *jsonReader {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return &jsonReader{format: f, dec: dec, base: base}
}

func (j *jsonReader) next() (any, error) {
	if j.err != nil {
		return nil, j.err
	}
	v, err := j.read()
	if err != nil {
		j.err = err
	}
	return v, err
}

func (j *jsonReader) read() (any, error) {
	for {
		if j.inArray {
			if j.dec.More() {
				start := j.dec.InputOffset()
				var v any
				if err := j.dec.Decode(&v); err != nil {
					return nil, j.valueError(err, start, j.elems > 0)
				}
				j.elems++
				return v, nil
			}
			if _, err := j.dec.Token(); err != nil { // the closing ']'
				return nil, j.tokenError(err)
			}
			j.inArray = false
			continue
		}
		if !j.dec.More() {
			// The end, or a stray ']' or '}'.
			tok, err := j.dec.Token()
			if err == io.EOF {
				return nil, io.EOF
			}
			if err != nil {
				return nil, j.tokenError(err)
			}
			return nil, j.fail(j.dec.InputOffset()-1, fmt.Sprintf("unexpected %v", tok))
		}
		if j.peek() == '[' {
			if _, err := j.dec.Token(); err != nil {
				return nil, j.tokenError(err)
			}
			j.inArray, j.elems = true, 0
			continue
		}
		start := j.dec.InputOffset()
		var v any
		if err := j.dec.Decode(&v); err != nil {
			return nil, j.valueError(err, start, false)
		}
		return v, nil
	}
}

// peek returns the next byte of the stream that is not white space; More
// has just made sure there is one in the decoder's buffer.
func (j *jsonReader) peek() byte {
	r := j.dec.Buffered()
	var b [1]byte
	for {
		if n, _ := r.Read(b[:]); n == 0 {
			return 0
		}
		if c := b[0]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
}

func (j *jsonReader) fail(offset int64, reason string) *FormatError {
	return &FormatError{Format: j.format, Offset: j.base + max(offset, 0), Reason: reason}
}

// tokenError describes an error of Token, whose offsets are exact.
func (j *jsonReader) tokenError(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return j.fail(se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF:
		return j.fail(j.dec.InputOffset(), "the file ends in the middle of a value")
	}
	return fmt.Errorf("read %s: %w", formatName(j.format), err)
}

// valueError describes an error of Decode for the value that starts at
// start (after a comma, when comma is set); Locate finds where exactly.
func (j *jsonReader) valueError(err error, start int64, comma bool) error {
	var se *json.SyntaxError
	var reason string
	switch {
	case errors.As(err, &se):
		reason = se.Error()
	case errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF:
		reason = "the file ends in the middle of a value"
	case errors.Is(err, errTooLong):
		return j.fail(start, tooLong)
	default:
		return fmt.Errorf("read %s: %w", formatName(j.format), err)
	}
	fe := j.fail(start, reason)
	fe.rescan, fe.comma = true, comma
	return fe
}
