package sink

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// maintain compacts this instance's windows that ended or are full (all
// of them when flush is set) and, when it is time, adopts orphaned staging
// objects.
func (s *blobSink) maintain(ctx context.Context, flush bool) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	now := s.now()

	type job struct {
		dir    string
		start  time.Time
		pieces []string
	}
	var jobs []job
	s.mu.Lock()
	for dir, w := range s.own {
		if flush || !w.start.Add(s.p.roll).After(now) || w.size() >= s.p.maxBytes {
			jobs = append(jobs, job{dir, w.start, slices.Collect(maps.Keys(w.pieces))})
		}
	}
	sweep := !flush && now.Sub(s.lastSweep) >= s.sweepGap
	var scopes []string
	if sweep {
		s.lastSweep = now
		for sc := range s.scopes {
			scopes = append(scopes, sc)
		}
	}
	s.mu.Unlock()

	var errs []error
	for _, j := range jobs {
		if err := s.compact(ctx, j.start, j.pieces); err != nil {
			var gone *vanishedError
			if errors.As(err, &gone) {
				// Written and compacted already (a retried delivery racing
				// its window's compaction): stop tracking it, and compact
				// the rest on the next round.
				s.mu.Lock()
				if w := s.own[j.dir]; w != nil {
					delete(w.pieces, gone.key)
				}
				s.mu.Unlock()
			}
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		if w := s.own[j.dir]; w != nil {
			for _, k := range j.pieces {
				delete(w.pieces, k)
			}
			if len(w.pieces) == 0 {
				delete(s.own, j.dir)
			}
		}
		s.mu.Unlock()
	}
	slices.Sort(scopes)
	for _, sc := range scopes {
		if err := s.adoptOrphans(ctx, sc, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// adoptOrphans compacts the staging objects of other instances in windows
// of scope that ended more than adoptAfter ago.
func (s *blobSink) adoptOrphans(ctx context.Context, scope string, now time.Time) error {
	var windows []time.Time
	it := s.bucket.List(&blob.ListOptions{Prefix: scope, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("list staging windows: %w", err)
		}
		if !obj.IsDir {
			continue
		}
		start, err := time.Parse(windowLayout, strings.TrimSuffix(strings.TrimPrefix(obj.Key, scope), "/"))
		if err != nil || start.Add(s.p.roll+s.adopt).After(now) {
			continue
		}
		windows = append(windows, start)
	}
	var errs []error
	for _, start := range windows {
		dir := scope + start.Format(windowLayout) + "/"
		// This instance's own staging objects that it still tracks are
		// compacted as its own; ones it lost track of (a write that
		// failed halfway) are adopted like anyone's.
		s.mu.Lock()
		var mine map[string]int64
		if w := s.own[dir]; w != nil {
			mine = maps.Clone(w.pieces)
		}
		s.mu.Unlock()
		var keys []string
		it := s.bucket.List(&blob.ListOptions{Prefix: dir})
		for len(keys) < blobMaxPieces {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("list staging objects: %w", err)
			}
			if _, tracked := mine[obj.Key]; strings.HasSuffix(obj.Key, ".json") && !tracked {
				keys = append(keys, obj.Key)
			}
		}
		if len(keys) == 0 {
			continue
		}
		s.log.Info("blob sink: adopting staged records of a stopped instance", "window", dir, "objects", len(keys))
		if err := s.compact(ctx, start, keys); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// blobOutput is one file being written by a compaction.
type blobOutput struct {
	key   string
	w     *blob.Writer
	gz    *gzip.Writer
	enc   recordEncoder
	bytes int64
}

func (o *blobOutput) close() error {
	err := o.enc.Close()
	if o.gz != nil {
		err = errors.Join(err, o.gz.Close())
	}
	return errors.Join(err, o.w.Close())
}

// compact writes the records of the staging objects keys, all of the
// window starting at start, as files, and then deletes the staging
// objects. Files are written fully before anything is deleted; a failure
// writes no partial file and deletes nothing. Records are grouped by
// pipeline name, sink name and fields (a file has one schema), and a group
// is split into files of at most max_bytes of record data.
func (s *blobSink) compact(ctx context.Context, start time.Time, keys []string) error {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	setID := hex.EncodeToString(sum[:6])

	// Writers are created with wctx: canceling it before Close aborts the
	// write, leaving no partial file.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	open := map[string]*blobOutput{}
	var finished []*blobOutput
	part := 0
	abort := func(err error) error {
		cancel()
		for _, o := range open {
			_ = o.close()
		}
		return err
	}
	newOutput := func(h pieceHeader) (*blobOutput, error) {
		ext := s.p.format.ext()
		contentType := s.p.format.contentType()
		if s.p.gzip {
			ext += ".gz"
			contentType = "application/gzip"
		}
		key := fmt.Sprintf("%s%s/%s/%s-%s-%s-%03d.%s", s.p.prefix, safeName(h.Pipeline), start.Format("2006/01/02/15"),
			safeName(h.Sink), start.Format(windowLayout), setID, part, ext)
		part++
		w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: contentType})
		if err != nil {
			return nil, err
		}
		o := &blobOutput{key: key, w: w}
		var dst io.Writer = w
		if s.p.gzip {
			o.gz = gzip.NewWriter(w)
			dst = o.gz
		}
		fields := make([]Field, len(h.Fields))
		for i, f := range h.Fields {
			fields[i] = Field(f)
		}
		o.enc = newRecordEncoder(s.p.format, dst, fields)
		return o, nil
	}

	var used []string // staging objects whose records were written
	for piece := range s.readPieces(wctx, keys) {
		if piece.err != nil {
			if gcerrors.Code(piece.err) == gcerrors.NotFound {
				// Compacted by someone else meanwhile: what this set would
				// write may now be incomplete, so write nothing.
				return abort(&vanishedError{key: piece.key})
			}
			return abort(fmt.Errorf("read staging object %s: %w", piece.key, piece.err))
		}
		h, recs, err := decodePiece(piece.data)
		if err != nil {
			// Never deleted, so never lost: it stays for a person to see.
			s.log.Error("blob sink: skipping an unreadable staging object", "key", piece.key, "err", err)
			continue
		}
		group := groupKey(h)
		for _, r := range recs {
			o := open[group]
			if o != nil && o.bytes >= s.p.maxBytes {
				delete(open, group)
				if err := o.close(); err != nil {
					return abort(blobError("blob: write file "+o.key, err))
				}
				finished = append(finished, o)
				o = nil
			}
			if o == nil {
				if o, err = newOutput(h); err != nil {
					return abort(blobError("blob: create file", err))
				}
				open[group] = o
			}
			if err := o.enc.Encode(r); err != nil {
				return abort(fmt.Errorf("blob: encode a record of %s: %w", piece.key, err))
			}
			o.bytes += int64(len(r.Data))
		}
		used = append(used, piece.key)
	}
	if err := ctx.Err(); err != nil {
		return abort(err)
	}
	groups := make([]string, 0, len(open))
	for g := range open {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		o := open[g]
		delete(open, g)
		if err := o.close(); err != nil {
			return abort(blobError("blob: write file "+o.key, err))
		}
		finished = append(finished, o)
	}
	for _, o := range finished {
		if err := s.syncFile(o.key); err != nil {
			return fmt.Errorf("blob: sync file %s: %w", o.key, err)
		}
	}
	return s.deletePieces(ctx, used)
}

// vanishedError is a staging object deleted while a compaction read it.
type vanishedError struct{ key string }

func (e *vanishedError) Error() string {
	return "staging object " + e.key + " vanished during compaction"
}

// groupKey says which file a staging object's records go to.
func groupKey(h pieceHeader) string {
	fields, _ := json.Marshal(h.Fields)
	return h.Pipeline + "\x00" + h.Sink + "\x00" + string(fields)
}

// fetchedPiece is one staging object read by readPieces.
type fetchedPiece struct {
	key  string
	data []byte
	err  error
}

// readPieces reads the staging objects keys, a few at a time in parallel,
// and yields them in order. It stops at the first error it yields.
func (s *blobSink) readPieces(ctx context.Context, keys []string) func(yield func(fetchedPiece) bool) {
	return func(yield func(fetchedPiece) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		results := make([]chan fetchedPiece, len(keys))
		for i := range results {
			results[i] = make(chan fetchedPiece, 1)
		}
		sem := make(chan struct{}, blobParallel)
		go func() {
			for i, k := range keys {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				go func() {
					data, err := s.bucket.ReadAll(ctx, k)
					results[i] <- fetchedPiece{key: k, data: data, err: err}
				}()
			}
		}()
		for i := range keys {
			var p fetchedPiece
			select {
			case p = <-results[i]:
			case <-ctx.Done():
				return
			}
			<-sem
			if !yield(p) || p.err != nil {
				return
			}
		}
	}
}

// deletePieces deletes staging objects whose records are in files now. A
// failure is only logged: the objects are adopted again later, which
// duplicates their records but loses nothing.
func (s *blobSink) deletePieces(ctx context.Context, keys []string) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, blobParallel)
	var mu sync.Mutex
	var failed int
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.bucket.Delete(ctx, k); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		s.log.Warn("blob sink: some staging objects could not be deleted; their records will be written again", "failed", failed)
	}
	s.removeEmptyDirs(keys)
	return nil
}

// removeEmptyDirs removes the directories that compaction emptied, for
// file://; object stores have no directories.
func (s *blobSink) removeEmptyDirs(keys []string) {
	if s.fileDir == "" {
		return
	}
	dirs := map[string]bool{}
	for _, k := range keys {
		d := filepath.Dir(filepath.Join(s.fileDir, filepath.FromSlash(k)))
		dirs[d] = true
		dirs[filepath.Dir(d)] = true // the window's directory
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	// Deepest first, so a window's directory goes after its instances'.
	slices.SortFunc(list, func(a, b string) int { return len(b) - len(a) })
	for _, d := range list {
		_ = os.Remove(d) // fails, harmlessly, when not empty
	}
}
