package graphql

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/vault"
)

// The conversions of service values to the GraphQL models: presentation
// only.

func itoa(n int) string { return strconv.Itoa(n) }

// invalidArg is an INVALID error naming the argument at fault.
func invalidArg(arg, msg string) error {
	return &orchestrator.Error{Kind: orchestrator.ErrInvalid, Msg: "The argument " + arg + " " + msg + ".",
		Problems: []pipeline.Problem{{Path: arg, Message: msg}}}
}

// opt is a nullable string: nil for "".
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optID is a nullable id: nil for uuid.Nil.
func optID(id uuid.UUID) *string {
	if id == uuid.Nil {
		return nil
	}
	return new(id.String())
}

func user(u core.User) *User {
	return &User{ID: u.ID.String(), Email: u.Email, CreatedAt: u.CreatedAt}
}

func team(t core.Team) *Team {
	return &Team{ID: t.ID.String(), Name: t.Name, Slug: t.Slug, CreatedAt: t.CreatedAt}
}

// teamOf is team, for resolvers whose argument named team hides it.
func teamOf(t core.Team) *Team { return team(t) }

func member(m core.Membership) *Member {
	return &Member{User: user(m.User), Role: Role(m.Role), CreatedAt: m.CreatedAt}
}

func dashboardOf(v orchestrator.DashboardView) (*Dashboard, error) {
	spec, err := json.Marshal(v.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode dashboard %s: %w", v.ID, err)
	}
	d := &Dashboard{ID: v.ID.String(), Name: v.Name, Version: v.Version, Spec: spec, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
		Pipelines: make([]*DashboardPipeline, 0, len(v.Pipelines)), Missing: make([]*MissingPipeline, 0, len(v.Missing))}
	if v.CreatedBy != nil {
		d.CreatedBy = new(v.CreatedBy.String())
	}
	for id, name := range v.Pipelines {
		d.Pipelines = append(d.Pipelines, &DashboardPipeline{ID: id.String(), Name: name})
	}
	slices.SortFunc(d.Pipelines, func(a, b *DashboardPipeline) int { return strings.Compare(a.Name, b.Name) })
	for _, m := range v.Missing {
		d.Missing = append(d.Missing, &MissingPipeline{Path: m.Path, Widget: m.Widget, Pipeline: m.Pipeline})
	}
	return d, nil
}

func token(t core.Token) *Token {
	return &Token{ID: t.ID.String(), Name: t.Name, Role: Role(t.Role), Hint: t.Hint, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func secret(s vault.Secret) *Secret {
	return &Secret{Name: s.Name, CreatedAt: s.CreatedAt, RotatedAt: s.RotatedAt}
}

func run(r core.Run) *Run {
	return &Run{ID: r.ID.String(), Version: r.Version, Trigger: string(r.Trigger), StartedAt: r.StartedAt,
		DurationMs: float64(r.Duration) / float64(time.Millisecond), Fetched: r.Fetched, Stored: r.Stored, Rejected: r.Rejected,
		Bytes: int(r.Bytes), Error: opt(r.Error)}
}

func sinkModel(s orchestrator.Sink) *Sink {
	return &Sink{Name: s.Name, Kind: s.Kind, Enabled: s.Enabled, Settings: s.Settings, Status: string(s.Status), Reason: opt(s.Reason),
		Downstream: s.Downstream, Delivered: int(s.State.Delivered), Records: int(s.State.Records), Failed: int(s.State.Failed),
		Dead: int(s.State.Dead), LastSuccessAt: s.State.LastSuccessAt, LastFailureAt: s.State.LastFailureAt}
}

func delivery(d core.Delivery) *Delivery {
	return &Delivery{ID: d.ID.String(), Sink: d.Sink, Key: d.Key, RunID: optID(d.RunID), ReplayID: optID(d.ReplayID), Records: d.Records,
		From: d.From, To: d.To, Status: string(d.Status), Attempts: d.Attempts, LastError: opt(d.LastError), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

func replay(r core.Replay) *Replay {
	return &Replay{ID: r.ID.String(), Sink: r.Sink, From: r.From, To: r.To, Status: string(r.Status), Total: int(r.Total),
		Enqueued: int(r.Enqueued), RecordsDelivered: int(r.RecordsDelivered), Error: opt(r.Error), CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt}
}

func upload(u core.Upload) *Upload {
	out := &Upload{ID: u.ID.String(), Filename: opt(u.Filename), Format: string(u.Format), Size: int(u.Size), Status: string(u.Status),
		RowsDone: int(u.RowsDone), Accepted: int(u.Accepted), Rejected: int(u.Rejected), Error: opt(u.Error)}
	if u.RowsTotal != nil {
		out.RowsTotal = new(int(*u.RowsTotal))
	}
	return out
}

func storageStats(s store.StorageStats) *StorageStats {
	return &StorageStats{Records: int(s.Records), StoredBytes: int(s.StoredBytes), DiskBytes: int(s.DiskBytes),
		OldestRecordAt: s.Oldest, NewestRecordAt: s.Newest}
}

// teamRoles are the teams a principal can act on, as REST's /me lists
// them.
func (r *Resolver) teamRoles(ctx context.Context, acc Accounts) ([]*TeamRole, error) {
	p := account.PrincipalFrom(ctx)
	if p == nil {
		return nil, orchestrator.ErrUnauthenticated
	}
	trs, err := acc.TeamsOf(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]*TeamRole, 0, len(trs))
	for _, tr := range trs {
		out = append(out, &TeamRole{Team: team(tr.Team), Role: Role(tr.Role)})
	}
	return out, nil
}

// Cursors are opaque to clients: base64 of "kind:fields".

func encodeCursor(kind string, parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strings.Join(parts, ":")))
}

// decodeCursor returns the fields of a cursor of kind, or INVALID.
func decodeCursor(after *string, kind string, n int) ([]string, error) {
	if after == nil || *after == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*after)
	parts := strings.Split(string(b), ":")
	if err != nil || len(parts) != n+1 || parts[0] != kind {
		return nil, invalidArg("after", "is not a cursor of this list")
	}
	return parts[1:], nil
}

func timeCursorPart(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func parseTimePart(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, invalidArg("after", "is not a cursor of this list")
	}
	return time.UnixMicro(n).UTC(), nil
}

// roleArg converts the Role enum.
func roleArg(r Role) auth.Role { return auth.Role(r) }

// parseBucket reads a series bucket by the one rule of
// rollup.ParseSeriesWidth; a bad one is an INVALID_ARGUMENT error naming
// it.
func parseBucket(s string, span time.Duration) (time.Duration, error) {
	d, err := rollup.ParseSeriesWidth(s, span)
	var we *rollup.WidthError
	if errors.As(err, &we) {
		return 0, invalidArg("bucket", fmt.Sprintf("%q %s; write it like 30s, 1m, 1h, 1d or 1w, or raw", s, we.Reason))
	}
	return d, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// pageInfo starts the paging of a connection's page: hasNext says whether
// more follow; a page asked for after a cursor has a previous page.
func pageInfo(hasNext bool, after *string) *PageInfo {
	return &PageInfo{HasNextPage: hasNext, HasPreviousPage: after != nil && *after != ""}
}

// edge records the cursor of the page's next edge: the first is the
// start cursor, the last the end cursor.
func (pi *PageInfo) edge(cursor string) {
	if pi.StartCursor == nil {
		pi.StartCursor = &cursor
	}
	pi.EndCursor = &cursor
}
