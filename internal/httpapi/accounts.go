package httpapi

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
)

// Wire types of the account API.

// UserBody is a user as the API shows it.
type UserBody struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	IsAdmin   bool      `json:"is_admin"`
	CreatedAt time.Time `json:"created_at"`
}

func userBody(u core.User) UserBody {
	return UserBody{ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt}
}

// TeamBody is a team with the caller's role in it.
type TeamBody struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Role      string    `json:"role,omitempty" enum:"owner,admin,editor,viewer" doc:"Your role in the team."`
	CreatedAt time.Time `json:"created_at"`
}

func teamBody(t core.Team, role auth.Role) TeamBody {
	return TeamBody{ID: t.ID, Name: t.Name, Slug: t.Slug, Role: string(role), CreatedAt: t.CreatedAt}
}

// MemberBody is a membership.
type MemberBody struct {
	User     UserBody  `json:"user"`
	Role     string    `json:"role" enum:"owner,admin,editor,viewer"`
	JoinedAt time.Time `json:"joined_at"`
}

func memberBody(m core.Membership) MemberBody {
	return MemberBody{User: userBody(m.User), Role: string(m.Role), JoinedAt: m.CreatedAt}
}

// TokenBody is an API token without its secret.
type TokenBody struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role" enum:"owner,admin,editor,viewer"`
	Hint       string     `json:"hint" doc:"The first characters of the token, to tell tokens apart."`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func tokenBody(t core.Token) TokenBody {
	return TokenBody{ID: t.ID, Name: t.Name, Role: string(t.Role), Hint: t.Hint, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

// TeamScope selects the team a request acts on.
type TeamScope struct {
	Team uuid.UUID `query:"team" doc:"Team id to act on. API tokens act on their own team; signed-in users default to their first team."`
}

// principal returns the request's principal or a 401.
func principal(ctx context.Context) (*account.Principal, error) {
	p := account.PrincipalFrom(ctx)
	if p == nil {
		return nil, huma.Error401Unauthorized("Sign in or send a valid API token.")
	}
	return p, nil
}

type loginInput struct {
	Body struct {
		Email    string `json:"email" maxLength:"254"`
		Password string `json:"password" maxLength:"256"`
	}
}

type loginOutput struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
	Body      struct {
		User UserBody `json:"user"`
	}
}

type meOutput struct {
	Body struct {
		User  *UserBody  `json:"user,omitempty"`
		Token *TokenBody `json:"token,omitempty" doc:"Set when the request used an API token."`
		Teams []TeamBody `json:"teams"`
	}
}

type teamsOutput struct {
	Body struct {
		Teams []TeamBody `json:"teams"`
	}
}

type teamOutput struct {
	Body TeamBody
}

type membersOutput struct {
	Body struct {
		Members []MemberBody `json:"members"`
	}
}

type memberOutput struct {
	Body MemberBody
}

type tokensOutput struct {
	Body struct {
		Tokens []TokenBody `json:"tokens"`
	}
}

type createdTokenOutput struct {
	Body struct {
		TokenBody
		Secret string `json:"secret" doc:"The token itself. It is shown only in this response; store it now."`
	}
}

func (s *Server) registerAccountRoutes() {
	api := s.api
	huma.Register(api, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/api/v1/auth/login", Tags: []string{"Auth"},
		Summary: "Sign in with email and password", Description: "Sets the session cookie.", Security: []map[string][]string{},
	}, func(ctx context.Context, in *loginInput) (*loginOutput, error) {
		user, sid, err := s.accounts.LoginFrom(ctx, in.Body.Email, in.Body.Password, clientAddrOf(ctx))
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := &loginOutput{SetCookie: *sessionCookie(sid, s.cfg.SessionTTL, s.cfg.SecureCookies || isTLS(ctx))}
		out.Body.User = userBody(user)
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/api/v1/auth/logout", Tags: []string{"Auth"},
		Summary: "Sign out", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, _ *struct{}) (*struct {
		SetCookie http.Cookie `header:"Set-Cookie"`
	}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if p.SessionHash != nil {
			if err := s.accounts.EndSession(ctx, p.SessionHash); err != nil {
				return nil, s.problem(ctx, err)
			}
		}
		c := sessionCookie("", 0, s.cfg.SecureCookies || isTLS(ctx))
		c.MaxAge = -1
		return &struct {
			SetCookie http.Cookie `header:"Set-Cookie"`
		}{SetCookie: *c}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "me", Method: http.MethodGet, Path: "/api/v1/me", Tags: []string{"Auth"},
		Summary: "Who am I", Description: "The signed-in user or the API token, with the teams it can act on.",
	}, func(ctx context.Context, _ *struct{}) (*meOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		out := &meOutput{}
		out.Body.Teams, err = s.principalTeams(ctx, p)
		if err != nil {
			return nil, err
		}
		if p.User != nil {
			u := userBody(*p.User)
			out.Body.User = &u
		}
		if p.Token != nil {
			t := tokenBody(*p.Token)
			out.Body.Token = &t
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-teams", Method: http.MethodGet, Path: "/api/v1/teams", Tags: []string{"Teams"},
		Summary: "List your teams",
	}, func(ctx context.Context, _ *struct{}) (*teamsOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		out := &teamsOutput{}
		out.Body.Teams, err = s.principalTeams(ctx, p)
		return out, err
	})

	huma.Register(api, huma.Operation{
		OperationID: "create-team", Method: http.MethodPost, Path: "/api/v1/teams", Tags: []string{"Teams"},
		Summary: "Create a team", Description: "You become its owner. Only signed-in users can create teams.",
		DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *struct {
		Body struct {
			Name string `json:"name" minLength:"1" maxLength:"100"`
		}
	}) (*teamOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		t, err := s.accounts.CreateTeam(ctx, p, in.Body.Name)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &teamOutput{Body: teamBody(t, auth.Owner)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-team", Method: http.MethodGet, Path: "/api/v1/team", Tags: []string{"Teams"},
		Summary: "The team a request acts on",
	}, func(ctx context.Context, in *TeamScope) (*teamOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		t, role, err := s.accounts.TeamOf(ctx, p, in.Team)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &teamOutput{Body: teamBody(t, role)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-members", Method: http.MethodGet, Path: "/api/v1/team/members", Tags: []string{"Teams"},
		Summary: "List the team's members",
	}, func(ctx context.Context, in *TeamScope) (*membersOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		ms, err := s.accounts.TeamMembers(ctx, p, in.Team)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := &membersOutput{}
		out.Body.Members = make([]MemberBody, 0, len(ms))
		for _, m := range ms {
			out.Body.Members = append(out.Body.Members, memberBody(m))
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "add-member", Method: http.MethodPost, Path: "/api/v1/team/members", Tags: []string{"Teams"},
		Summary: "Add a user to the team", Description: "The user must already have an account. Needs admin; granting owner needs owner.",
		DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *struct {
		TeamScope
		Body struct {
			Email string `json:"email" maxLength:"254"`
			Role  string `json:"role" enum:"owner,admin,editor,viewer"`
		}
	}) (*memberOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		m, err := s.accounts.AddTeamMember(ctx, p, in.Team, in.Body.Email, auth.Role(in.Body.Role))
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &memberOutput{Body: memberBody(m)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "update-member", Method: http.MethodPatch, Path: "/api/v1/team/members/{user}", Tags: []string{"Teams"},
		Summary: "Change a member's role",
	}, func(ctx context.Context, in *struct {
		TeamScope
		User uuid.UUID `path:"user"`
		Body struct {
			Role string `json:"role" enum:"owner,admin,editor,viewer"`
		}
	}) (*memberOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		m, err := s.accounts.SetTeamMemberRole(ctx, p, in.Team, in.User, auth.Role(in.Body.Role))
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &memberOutput{Body: memberBody(m)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "remove-member", Method: http.MethodDelete, Path: "/api/v1/team/members/{user}", Tags: []string{"Teams"},
		Summary: "Remove a member", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *struct {
		TeamScope
		User uuid.UUID `path:"user"`
	}) (*struct{}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.accounts.RemoveTeamMember(ctx, p, in.Team, in.User); err != nil {
			return nil, s.problem(ctx, err)
		}
		return nil, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-tokens", Method: http.MethodGet, Path: "/api/v1/team/tokens", Tags: []string{"API tokens"},
		Summary: "List the team's API tokens", Description: "Secrets are never shown again after creation. Needs admin.",
	}, func(ctx context.Context, in *TeamScope) (*tokensOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		ts, err := s.accounts.TeamTokens(ctx, p, in.Team)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := &tokensOutput{}
		out.Body.Tokens = make([]TokenBody, 0, len(ts))
		for _, t := range ts {
			out.Body.Tokens = append(out.Body.Tokens, tokenBody(t))
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "create-token", Method: http.MethodPost, Path: "/api/v1/team/tokens", Tags: []string{"API tokens"},
		Summary: "Create an API token", Description: "The secret is in this response only. A token's role cannot exceed yours.",
		DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *struct {
		TeamScope
		Body struct {
			Name      string     `json:"name" minLength:"1" maxLength:"100"`
			Role      string     `json:"role" enum:"owner,admin,editor,viewer"`
			ExpiresAt *time.Time `json:"expires_at,omitempty" required:"false"`
		}
	}) (*createdTokenOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		t, secret, err := s.accounts.CreateTeamToken(ctx, p, in.Team, in.Body.Name, auth.Role(in.Body.Role), in.Body.ExpiresAt)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := &createdTokenOutput{}
		out.Body.TokenBody = tokenBody(t)
		out.Body.Secret = secret
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "revoke-token", Method: http.MethodDelete, Path: "/api/v1/team/tokens/{token}", Tags: []string{"API tokens"},
		Summary: "Revoke an API token", DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *struct {
		TeamScope
		Token uuid.UUID `path:"token"`
	}) (*struct{}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.accounts.RevokeTeamToken(ctx, p, in.Team, in.Token); err != nil {
			return nil, s.problem(ctx, err)
		}
		return nil, nil
	})
}

// principalTeams lists the teams a principal can act on.
func (s *Server) principalTeams(ctx context.Context, p *account.Principal) ([]TeamBody, error) {
	trs, err := s.accounts.TeamsOf(ctx, p)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := make([]TeamBody, 0, len(trs))
	for _, tr := range trs {
		out = append(out, teamBody(tr.Team, tr.Role))
	}
	return out, nil
}

// clientAddr is the IP address of the request's peer (behind a reverse
// proxy, the proxy's), for sign-in throttling.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientAddrOf returns the client address of the request in ctx, or "".
func clientAddrOf(ctx context.Context) string {
	if info := infoOf(ctx); info != nil {
		return info.clientAddr
	}
	return ""
}

// isTLS reports whether the request in ctx came over TLS.
func isTLS(ctx context.Context) bool {
	info := infoOf(ctx)
	return info != nil && info.tls
}
