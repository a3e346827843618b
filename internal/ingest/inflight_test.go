package ingest_test

import (
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/store"
)

// A team with MaxInFlight requests in progress gets BusyError (429) for the
// next one, and nothing of it is stored; another team is not affected, and
// once the team's requests finish it is served again.
func TestAcceptBusy(t *testing.T) {
	t.Parallel()
	b := setup(t, ingest.Config{MaxInFlight: 2})
	p := b.pipeline(t, "busy", `{}`)
	// Another team on the same service.
	owner, err := b.st.CreateUser(t.Context(), store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := b.st.CreateTeam(t.Context(), store.NewTeam{Name: "Other", Slug: "other-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	other := *b
	other.team = team.ID
	q := other.pipeline(t, "other", `{}`)

	// Two requests whose bodies arrive slowly: in progress until their
	// writers finish.
	var writers []*io.PipeWriter
	done := make(chan error, 2)
	for range 2 {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		go func() {
			_, err := b.svc.Accept(t.Context(), p.HookToken, http.Header{}, pr)
			done <- err
		}()
		// The write returns once Accept reads the body, so past the
		// in-flight count.
		if _, err := pw.Write([]byte(`[{"temperature": 1}`)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = b.accept(t, p.HookToken, `{"temperature": 2}`)
	var busy *ingest.BusyError
	if !errors.As(err, &busy) || busy.Limit != 2 || busy.RetryAfter <= 0 {
		t.Fatalf("a third request in progress: err = %v, want a BusyError with limit 2 and a wait", err)
	}
	if _, err := other.accept(t, q.HookToken, `{"temperature": 3}`); err != nil {
		t.Fatalf("another team while the first is busy: %v", err)
	}
	for _, pw := range writers {
		if _, err := pw.Write([]byte(`]`)); err != nil {
			t.Fatal(err)
		}
		pw.Close()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("a request in progress: %v", err)
		}
	}
	if _, err := b.accept(t, p.HookToken, `{"temperature": 4}`); err != nil {
		t.Fatalf("after the requests finished: %v", err)
	}
	if rs, _ := b.stored(t, p.ID); rs != 3 {
		t.Fatalf("stored %d records, want 3 (the busy request's none)", rs)
	}
}
