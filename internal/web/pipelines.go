package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pubsub"
)

// liveBuffer is each subscription's buffer: the list only needs to know
// that something happened, so a full buffer loses nothing it needs.
const liveBuffer = 4

// liveWriteTimeout bounds every write of a live stream.
const liveWriteTimeout = 10 * time.Second

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusServiceUnavailable, errorPage(h.shell(w, r, "Unavailable", ""),
		"Pipelines are not available on this server yet; try again shortly.", "/"))
}

func (h *Handler) pipelinesPage(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	svc, _ := h.services()
	if svc == nil {
		h.unavailable(w, r)
		return
	}
	sums, err := svc.Summaries(r.Context(), who)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	v := listView{CanEdit: canEdit(who), Pipelines: sums, BaseURL: h.baseURL(r), Now: core.Now(), Alerts: h.pipelineAlerts(r.Context(), who)}
	h.render(w, r, http.StatusOK, pipelinesPage(h.shell(w, r, "Pipelines", "pipelines"), v))
}

// pipelinesLive streams the rows of the pipelines list as Server-Sent
// Events named after the rows ("p-{id}"), whose data is the row's cells.
// Every row is sent on connect (a reconnect catches up); after that a row
// is sent when a batch or a change of its pipeline arrived, at most once
// per LiveInterval, and every row again each LiveRefresh (statuses set by
// polls and sink health publish nothing).
func (h *Handler) pipelinesLive(w http.ResponseWriter, r *http.Request) {
	who, ok := h.caller(w, r)
	if !ok {
		return
	}
	svc, broker := h.services()
	if svc == nil || broker == nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "live updates are unavailable", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	sums, err := svc.Summaries(ctx, who)
	if err != nil {
		if ctx.Err() == nil {
			h.log.WarnContext(ctx, "live pipelines list", "err", err)
		}
		http.Error(w, "live updates are unavailable", http.StatusServiceUnavailable)
		return
	}
	d := &dirtySet{ids: map[uuid.UUID]bool{}}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: the forwarders stop with ctx
	for _, s := range sums {
		sub, err := broker.Subscribe(ctx, pubsub.PipelineTopic(s.Pipeline.ID), liveBuffer)
		if err != nil {
			h.log.WarnContext(ctx, "live pipelines list: subscribe", "pipeline", s.Pipeline.ID, "err", err)
			http.Error(w, "live updates are unavailable", http.StatusServiceUnavailable)
			return
		}
		wg.Add(1)
		go func(id uuid.UUID) {
			defer wg.Done()
			defer sub.Close()
			for range sub.C() {
				d.mark(id)
			}
		}(s.Pipeline.ID)
	}

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &eventWriter{w: w, rc: http.NewResponseController(w)}
	defer func() { _ = sw.rc.SetWriteDeadline(time.Time{}) }()

	ids := make([]uuid.UUID, 0, len(sums))
	alerts := h.pipelineAlerts(ctx, who)
	for _, s := range sums {
		ids = append(ids, s.Pipeline.ID)
		if sw.row(ctx, s, alerts[s.Pipeline.ID]) != nil {
			return
		}
	}
	tick := time.NewTicker(h.cfg.LiveInterval)
	defer tick.Stop()
	refresh := time.NewTicker(h.cfg.LiveRefresh)
	defer refresh.Stop()
	send := func(ids []uuid.UUID) error {
		alerts := h.pipelineAlerts(ctx, who)
		for _, id := range ids {
			s, err := svc.Summary(ctx, who, id)
			if errors.Is(err, core.ErrNotFound) {
				continue // deleted: its row stays until the page reloads
			}
			if err != nil {
				return err
			}
			if err := sw.row(ctx, s, alerts[id]); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.closing:
			return
		case <-refresh.C:
			d.take()
			if send(ids) != nil {
				return
			}
		case <-tick.C:
			if dirty := d.take(); len(dirty) > 0 && send(dirty) != nil {
				return
			}
		}
	}
}

// dirtySet is the set of pipelines that changed since the last send.
type dirtySet struct {
	mu  sync.Mutex
	ids map[uuid.UUID]bool
}

func (d *dirtySet) mark(id uuid.UUID) {
	d.mu.Lock()
	d.ids[id] = true
	d.mu.Unlock()
}

func (d *dirtySet) take() []uuid.UUID {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]uuid.UUID, 0, len(d.ids))
	for id := range d.ids {
		out = append(out, id)
	}
	clear(d.ids)
	return out
}

// eventWriter writes Server-Sent Events, each under its own deadline.
type eventWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
	tmp bytes.Buffer
}

// row sends a pipeline's cells, with its alert state, as the event of
// its row.
func (e *eventWriter) row(ctx context.Context, s orchestrator.Summary, alert string) error {
	e.tmp.Reset()
	if err := pipelineCells(s, core.Now(), alert).Render(ctx, &e.tmp); err != nil {
		return err
	}
	return e.send("p-"+s.Pipeline.ID.String(), e.tmp.Bytes())
}

// send writes one event; data may span lines.
func (e *eventWriter) send(event string, data []byte) error {
	e.buf.Reset()
	e.buf.WriteString("event: ")
	e.buf.WriteString(event)
	e.buf.WriteByte('\n')
	for line := range bytes.Lines(data) {
		e.buf.WriteString("data: ")
		e.buf.Write(bytes.TrimRight(line, "\r\n"))
		e.buf.WriteByte('\n')
	}
	e.buf.WriteByte('\n')
	_ = e.rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
	if _, err := e.w.Write(e.buf.Bytes()); err != nil {
		return err
	}
	return e.rc.Flush()
}
