package client

import (
	"context"
	"net/http"
)

// Login signs in with email and password (operation login). The session
// is a cookie: it lasts only if the client's http.Client has a cookie jar
// (WithHTTPClient); API tokens need no login.
func (c *Client) Login(ctx context.Context, email, password string) (*User, error) {
	var out struct {
		User User `json:"user"`
	}
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/auth/login",
		body: map[string]string{"email": email, "password": password}}, &out)
	if err != nil {
		return nil, err
	}
	return &out.User, nil
}

// Logout ends the session of Login (operation logout).
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodPost, path: "/api/v1/auth/logout"}, nil)
}

// Me returns who the caller is (operation me).
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out Me
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/me"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTeams lists the caller's teams (operation list-teams).
func (c *Client) ListTeams(ctx context.Context) ([]Team, error) {
	var out struct {
		Teams []Team `json:"teams"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/teams"}, &out)
	return out.Teams, err
}

// CreateTeam creates a team with the caller as its owner (operation
// create-team).
func (c *Client) CreateTeam(ctx context.Context, name string) (*Team, error) {
	var out Team
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/teams", body: map[string]string{"name": name}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Team returns the team the client acts on (operation get-team).
func (c *Client) Team(ctx context.Context) (*Team, error) {
	var out Team
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/team"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListMembers lists the team's members (operation list-members).
func (c *Client) ListMembers(ctx context.Context) ([]Member, error) {
	var out struct {
		Members []Member `json:"members"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/team/members"}, &out)
	return out.Members, err
}

// AddMember adds an existing user to the team (operation add-member).
func (c *Client) AddMember(ctx context.Context, email, role string) (*Member, error) {
	var out Member
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/team/members", body: map[string]string{"email": email, "role": role}}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateMember changes a member's role (operation update-member).
func (c *Client) UpdateMember(ctx context.Context, userID, role string) (*Member, error) {
	var out Member
	err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v1/team/members/" + pathEscape(userID), body: map[string]string{"role": role}}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveMember removes a user from the team (operation remove-member).
func (c *Client) RemoveMember(ctx context.Context, userID string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/team/members/" + pathEscape(userID)}, nil)
}

// ListTokens lists the team's API tokens (operation list-tokens).
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	var out struct {
		Tokens []Token `json:"tokens"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/team/tokens"}, &out)
	return out.Tokens, err
}

// CreateToken issues an API token (operation create-token). The secret is
// in the answer only.
func (c *Client) CreateToken(ctx context.Context, r TokenRequest) (*CreatedToken, error) {
	var out CreatedToken
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/team/tokens", body: r}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeToken revokes an API token (operation revoke-token).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/team/tokens/" + pathEscape(id)}, nil)
}

// ListSecrets lists the team's secrets, names only (operation
// list-secrets).
func (c *Client) ListSecrets(ctx context.Context) ([]Secret, error) {
	var out struct {
		Secrets []Secret `json:"secrets"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/secrets"}, &out)
	return out.Secrets, err
}

// CreateSecret stores a secret (operation create-secret). The value is
// sealed at once and never shown again.
func (c *Client) CreateSecret(ctx context.Context, name, value string) (*Secret, error) {
	var out Secret
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/secrets", body: map[string]string{"name": name, "value": value}}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Secret returns a secret's metadata (operation get-secret).
func (c *Client) Secret(ctx context.Context, name string) (*Secret, error) {
	var out Secret
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/secrets/" + pathEscape(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateSecret replaces a secret's value (operation rotate-secret).
func (c *Client) RotateSecret(ctx context.Context, name, value string) (*Secret, error) {
	var out Secret
	err := c.do(ctx, request{method: http.MethodPut, path: "/api/v1/secrets/" + pathEscape(name), body: map[string]string{"value": value}}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSecret deletes a secret (operation delete-secret).
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/api/v1/secrets/" + pathEscape(name)}, nil)
}
