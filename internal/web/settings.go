package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/vault"
)

// Team settings: members with their roles, API tokens, secrets and the
// usage of each pipeline, on one page with a section each. Every action
// calls one use case (account.Service for members and tokens, the
// pipeline service for secrets and usage), which checks the role; the
// page only hides the controls a role cannot use.

// Settings is what the settings page needs of the pipeline service
// beyond Pipelines; *orchestrator.Service is one.
type Settings interface {
	Secrets(ctx context.Context, who orchestrator.Caller) ([]vault.Secret, error)
	CreateSecret(ctx context.Context, who orchestrator.Caller, name string, value []byte) (vault.Secret, error)
	RotateSecret(ctx context.Context, who orchestrator.Caller, name string, value []byte) (vault.Secret, error)
	DeleteSecret(ctx context.Context, who orchestrator.Caller, name string) error
	Usage(ctx context.Context, who orchestrator.Caller, since time.Time) ([]orchestrator.PipelineUsage, error)
}

var _ Settings = (*orchestrator.Service)(nil)

// usagePeriod is how far back the usage section sums runs.
const usagePeriod = 30 * 24 * time.Hour

// settingsView is the settings page.
type settingsView struct {
	Team    uuid.UUID
	Me      uuid.UUID
	Role    auth.Role
	Members []core.Membership
	Tokens  []core.Token
	Secrets []vault.Secret
	Usage   []orchestrator.PipelineUsage
	Now     time.Time
	// NewToken is a token created by this request with its plaintext,
	// shown this once.
	NewToken       *core.Token
	NewTokenSecret string
	// Err is a refused form: which one, the field at fault and why; Typed
	// holds what was typed (never a secret's value).
	Err   settingsError
	Typed map[string]string
}

// settingsError is a refused settings form.
type settingsError struct {
	Form, Field, Msg string
}

func (v settingsView) isAdmin() bool  { return v.Role.AtLeast(auth.Admin) }
func (v settingsView) isEditor() bool { return v.Role.AtLeast(auth.Editor) }

// grantable lists the roles the viewer may hand out: owners all, admins
// up to admin.
func (v settingsView) grantable() []string {
	roles := []string{"viewer", "editor", "admin"}
	if v.Role == auth.Owner {
		roles = append(roles, "owner")
	}
	return roles
}

// canManage says whether the viewer may change or remove a member of that
// role.
func (v settingsView) canManage(r auth.Role) bool {
	return v.isAdmin() && (r != auth.Owner || v.Role == auth.Owner)
}

func (v settingsView) errAt(form, field string) string {
	if v.Err.Form == form && v.Err.Field == field {
		return v.Err.Msg
	}
	return ""
}

func (v settingsView) typed(key string) string { return v.Typed[key] }

// settingsServices returns the services the settings need, or renders
// why they are missing.
func (h *Handler) settingsServices(w http.ResponseWriter, r *http.Request) (Settings, orchestrator.Caller, bool) {
	who, ok := h.caller(w, r)
	if !ok {
		return nil, who, false
	}
	svc, _ := h.services()
	set, ok := svc.(Settings)
	if svc == nil || !ok {
		h.unavailable(w, r)
		return nil, who, false
	}
	return set, who, true
}

// settingsPage shows the settings of the team the pages act on.
func (h *Handler) settingsPage(w http.ResponseWriter, r *http.Request) {
	set, who, ok := h.settingsServices(w, r)
	if !ok {
		return
	}
	h.renderSettings(w, r, set, who, http.StatusOK, settingsView{})
}

// renderSettings loads the page's data around v (a new token, a refused
// form) and renders it.
func (h *Handler) renderSettings(w http.ResponseWriter, r *http.Request, set Settings, who orchestrator.Caller, status int, v settingsView) {
	ctx := r.Context()
	team, role, err := who.Principal.Team(who.Team)
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	who.Team = team
	v.Team, v.Role, v.Me, v.Now = team, role, who.Principal.User.ID, core.Now()
	if v.Members, err = h.accounts.TeamMembers(ctx, who.Principal, team); err != nil {
		h.serviceError(w, r, err)
		return
	}
	if v.isAdmin() {
		if v.Tokens, err = h.accounts.TeamTokens(ctx, who.Principal, team); err != nil {
			h.serviceError(w, r, err)
			return
		}
	}
	if v.Secrets, err = set.Secrets(ctx, who); err != nil {
		h.serviceError(w, r, err)
		return
	}
	if v.Usage, err = set.Usage(ctx, who, v.Now.Add(-usagePeriod)); err != nil {
		h.serviceError(w, r, err)
		return
	}
	h.render(w, r, status, settingsPage(h.shell(w, r, "Team settings", "settings"), v))
}

// settingsAction reads a settings form, runs do, and on success returns
// to the page with msg; a refused form comes back with its error next to
// field and what was typed.
func (h *Handler) settingsAction(w http.ResponseWriter, r *http.Request, form, field string, do func(ctx context.Context, set Settings, who orchestrator.Caller) (string, error)) {
	set, who, ok := h.settingsServices(w, r)
	if !ok {
		return
	}
	if !h.readForm(w, r) {
		return
	}
	if t, err := uuid.Parse(r.PostFormValue("team")); err == nil {
		who.Team = t
	}
	msg, err := do(r.Context(), set, who)
	if err != nil {
		text, ok := settingsMessage(err)
		if !ok {
			h.serviceError(w, r, err)
			return
		}
		typed := map[string]string{}
		for _, k := range []string{"email", "role", "name"} {
			typed[form+"."+k] = r.PostFormValue(k)
		}
		h.renderSettings(w, r, set, who, settingsStatus(err), settingsView{Err: settingsError{Form: form, Field: field, Msg: text}, Typed: typed})
		return
	}
	setFlash(w, h.secure(r), "success", msg)
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// settingsMessage is the sentence for the user of an error a settings
// form can cause; ok is false for errors that are not theirs.
func settingsMessage(err error) (string, bool) {
	if m := userFacing(err); m != "" {
		return m, true
	}
	switch {
	case errors.Is(err, core.ErrInvalid), errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrConflict),
		errors.Is(err, account.ErrForbidden), errors.Is(err, core.ErrLastOwner):
		return userMessage(err), true
	}
	return "", false
}

func settingsStatus(err error) int {
	switch {
	case errors.Is(err, account.ErrForbidden), errors.Is(err, orchestrator.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, core.ErrNotFound), errors.Is(err, orchestrator.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, core.ErrConflict), errors.Is(err, orchestrator.ErrConflict), errors.Is(err, core.ErrLastOwner):
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

func (h *Handler) addMember(w http.ResponseWriter, r *http.Request) {
	h.settingsAction(w, r, "member", "email", func(ctx context.Context, _ Settings, who orchestrator.Caller) (string, error) {
		m, err := h.accounts.AddTeamMember(ctx, who.Principal, who.Team, r.PostFormValue("email"), auth.Role(r.PostFormValue("role")))
		if err != nil {
			return "", err
		}
		return m.User.Email + " is now a member (" + string(m.Role) + ").", nil
	})
}

func (h *Handler) setMemberRole(w http.ResponseWriter, r *http.Request) {
	h.settingsAction(w, r, "member-"+r.PathValue("user"), "role", func(ctx context.Context, _ Settings, who orchestrator.Caller) (string, error) {
		uid, err := uuid.Parse(r.PathValue("user"))
		if err != nil {
			return "", core.ErrNotFound
		}
		m, err := h.accounts.SetTeamMemberRole(ctx, who.Principal, who.Team, uid, auth.Role(r.PostFormValue("role")))
		if err != nil {
			return "", err
		}
		return m.User.Email + " is now " + string(m.Role) + ".", nil
	})
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) {
	h.settingsAction(w, r, "member-"+r.PathValue("user"), "role", func(ctx context.Context, _ Settings, who orchestrator.Caller) (string, error) {
		uid, err := uuid.Parse(r.PathValue("user"))
		if err != nil {
			return "", core.ErrNotFound
		}
		if err := h.accounts.RemoveTeamMember(ctx, who.Principal, who.Team, uid); err != nil {
			return "", err
		}
		return "The member is removed; their API tokens stop working.", nil
	})
}

// createToken answers with the page itself, showing the new token this
// once: it is never stored, so it cannot travel through a redirect.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	set, who, ok := h.settingsServices(w, r)
	if !ok {
		return
	}
	if !h.readForm(w, r) {
		return
	}
	if t, err := uuid.Parse(r.PostFormValue("team")); err == nil {
		who.Team = t
	}
	var expires *time.Time
	if d := r.PostFormValue("expires_days"); d != "" && d != "0" {
		days, err := strconv.Atoi(d)
		if err != nil || days < 1 || days > 3650 {
			h.renderSettings(w, r, set, who, http.StatusUnprocessableEntity, settingsView{
				Err:   settingsError{Form: "token", Field: "expires_days", Msg: "Expiry must be a whole number of days from 1 to 3650, or never."},
				Typed: map[string]string{"token.name": r.PostFormValue("name"), "token.role": r.PostFormValue("role")}})
			return
		}
		at := core.Now().Add(time.Duration(days) * 24 * time.Hour)
		expires = &at
	}
	t, secret, err := h.accounts.CreateTeamToken(r.Context(), who.Principal, who.Team, r.PostFormValue("name"), auth.Role(r.PostFormValue("role")), expires)
	if err != nil {
		text, ok := settingsMessage(err)
		if !ok {
			h.serviceError(w, r, err)
			return
		}
		h.renderSettings(w, r, set, who, settingsStatus(err), settingsView{Err: settingsError{Form: "token", Field: "name", Msg: text},
			Typed: map[string]string{"token.name": r.PostFormValue("name"), "token.role": r.PostFormValue("role")}})
		return
	}
	h.renderSettings(w, r, set, who, http.StatusCreated, settingsView{NewToken: &t, NewTokenSecret: secret})
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	h.settingsAction(w, r, "token-"+r.PathValue("token"), "", func(ctx context.Context, _ Settings, who orchestrator.Caller) (string, error) {
		tid, err := uuid.Parse(r.PathValue("token"))
		if err != nil {
			return "", core.ErrNotFound
		}
		if err := h.accounts.RevokeTeamToken(ctx, who.Principal, who.Team, tid); err != nil {
			return "", err
		}
		return "The token is revoked: requests with it are refused from now on.", nil
	})
}

func (h *Handler) createSecret(w http.ResponseWriter, r *http.Request) {
	h.settingsAction(w, r, "secret", "name", func(ctx context.Context, set Settings, who orchestrator.Caller) (string, error) {
		s, err := set.CreateSecret(ctx, who, r.PostFormValue("name"), []byte(r.PostFormValue("value")))
		if err != nil {
			return "", err
		}
		return "Secret " + s.Name + " is stored. Its value is never shown again.", nil
	})
}

func (h *Handler) replaceSecret(w http.ResponseWriter, r *http.Request) {
	h.settingsAction(w, r, "secret-"+r.PathValue("name"), "value", func(ctx context.Context, set Settings, who orchestrator.Caller) (string, error) {
		s, err := set.RotateSecret(ctx, who, r.PathValue("name"), []byte(r.PostFormValue("value")))
		if err != nil {
			return "", err
		}
		return "Secret " + s.Name + " has its new value; pipelines use it from their next request.", nil
	})
}

func (h *Handler) deleteSecret(w http.ResponseWriter, r *http.Request) {
	h.settingsAction(w, r, "secret-"+r.PathValue("name"), "value", func(ctx context.Context, set Settings, who orchestrator.Caller) (string, error) {
		if err := set.DeleteSecret(ctx, who, r.PathValue("name")); err != nil {
			return "", err
		}
		return "Secret " + r.PathValue("name") + " is deleted.", nil
	})
}

// usageRow is one pipeline's usage.
type usageRow = orchestrator.PipelineUsage

// usageTotal sums a figure over the pipelines.
func usageTotal(us []usageRow, of func(usageRow) int64) int64 {
	var n int64
	for _, u := range us {
		n += of(u)
	}
	return n
}
