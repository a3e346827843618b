package sqlite

import "sync"

// rowsSQL keeps the text of a multi-row statement by its number of rows,
// built once: a batch of ten records would otherwise build the text of
// its INSERT (and the stmtcache look it up) anew every time.
type rowsSQL struct {
	build func(rows int) string
	texts sync.Map // int → string
}

func (r *rowsSQL) of(rows int) string {
	if s, ok := r.texts.Load(rows); ok {
		return s.(string)
	}
	s, _ := r.texts.LoadOrStore(rows, r.build(rows))
	return s.(string)
}
