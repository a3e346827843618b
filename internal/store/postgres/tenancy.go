package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

const userColumns = `id, email, is_admin, created_at`

func scanUser(row pgx.Row, extra ...any) (core.User, error) {
	var u core.User
	err := row.Scan(append([]any{&u.ID, &u.Email, &u.IsAdmin, &u.CreatedAt}, extra...)...)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, mapErr(err)
}

func insertUser(ctx context.Context, db dbtx, u store.NewUser) (core.User, error) {
	row := db.QueryRow(ctx, `INSERT INTO users (id, email, password_hash, is_admin, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+userColumns,
		core.NewID(), u.Email, u.PasswordHash, u.IsAdmin, core.Now())
	user, err := scanUser(row)
	if err != nil {
		return core.User{}, fmt.Errorf("create user: %w", err)
	}
	return user, nil
}

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u store.NewUser) (core.User, error) {
	return insertUser(ctx, s.pool, u)
}

// UserByID implements store.Users.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (core.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// UserByEmail implements store.Users.
func (s *Store) UserByEmail(ctx context.Context, email string) (core.User, string, error) {
	var hash string
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = lower($1)`, email), &hash)
	return u, hash, err
}

// CountUsers implements store.Users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// SetupFirstAccount implements store.Users.
func (s *Store) SetupFirstAccount(ctx context.Context, nu store.NewUser, nt store.NewTeam) (core.User, core.Team, error) {
	var (
		user core.User
		team core.Team
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The lock makes two concurrent first-run requests queue; the second
		// then sees the first's user.
		if _, err := tx.Exec(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return core.ErrAlreadySetUp
		}
		nu.IsAdmin = true
		var err error
		if user, err = insertUser(ctx, tx, nu); err != nil {
			return err
		}
		team, err = insertTeam(ctx, tx, nt, user.ID)
		return err
	})
	if err != nil {
		return core.User{}, core.Team{}, fmt.Errorf("set up first account: %w", err)
	}
	return user, team, nil
}

const teamColumns = `t.id, t.name, t.slug, t.created_at`

func scanTeam(row pgx.Row) (core.Team, error) {
	var t core.Team
	err := row.Scan(&t.ID, &t.Name, &t.Slug, &t.CreatedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, mapErr(err)
}

func insertTeam(ctx context.Context, db dbtx, nt store.NewTeam, owner uuid.UUID) (core.Team, error) {
	now := core.Now()
	team, err := scanTeam(db.QueryRow(ctx, `INSERT INTO teams AS t (id, name, slug, created_at)
		VALUES ($1, $2, $3, $4) RETURNING `+teamColumns, core.NewID(), nt.Name, nt.Slug, now))
	if err != nil {
		return core.Team{}, fmt.Errorf("create team %q: %w", nt.Slug, err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO memberships (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		team.ID, owner, auth.Owner, now); err != nil {
		return core.Team{}, fmt.Errorf("add owner to team %q: %w", nt.Slug, mapErr(err))
	}
	return team, nil
}

// CreateTeam implements store.Teams.
func (s *Store) CreateTeam(ctx context.Context, nt store.NewTeam, owner uuid.UUID) (core.Team, error) {
	var team core.Team
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		team, err = insertTeam(ctx, tx, nt, owner)
		return err
	})
	return team, err
}

// Team implements store.Teams.
func (s *Store) Team(ctx context.Context, id uuid.UUID) (core.Team, error) {
	return scanTeam(s.pool.QueryRow(ctx, `SELECT `+teamColumns+` FROM teams t WHERE t.id = $1`, id))
}

// RenameTeam implements store.Teams.
func (s *Store) RenameTeam(ctx context.Context, id uuid.UUID, name string) (core.Team, error) {
	t, err := scanTeam(s.pool.QueryRow(ctx, `UPDATE teams t SET name = $1 WHERE t.id = $2 RETURNING `+teamColumns, name, id))
	if err != nil {
		return core.Team{}, fmt.Errorf("rename team: %w", err)
	}
	return t, nil
}

// TeamBySlug implements store.Teams.
func (s *Store) TeamBySlug(ctx context.Context, slug string) (core.Team, error) {
	return scanTeam(s.pool.QueryRow(ctx, `SELECT `+teamColumns+` FROM teams t WHERE t.slug = $1`, slug))
}

const membershipColumns = `m.team_id, m.user_id, m.role, m.created_at, ` + teamColumns + `, u.id, u.email, u.is_admin, u.created_at`

func scanMemberships(rows pgx.Rows) ([]core.Membership, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.Membership, error) {
		var m core.Membership
		err := row.Scan(&m.TeamID, &m.UserID, &m.Role, &m.CreatedAt,
			&m.Team.ID, &m.Team.Name, &m.Team.Slug, &m.Team.CreatedAt,
			&m.User.ID, &m.User.Email, &m.User.IsAdmin, &m.User.CreatedAt)
		m.CreatedAt, m.Team.CreatedAt, m.User.CreatedAt = m.CreatedAt.UTC(), m.Team.CreatedAt.UTC(), m.User.CreatedAt.UTC()
		return m, err
	})
}

const membershipFrom = ` FROM memberships m JOIN teams t ON t.id = m.team_id JOIN users u ON u.id = m.user_id `

// UserTeams implements store.Teams.
func (s *Store) UserTeams(ctx context.Context, userID uuid.UUID) ([]core.Membership, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+membershipColumns+membershipFrom+`WHERE m.user_id = $1 ORDER BY m.created_at, t.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list teams of user: %w", err)
	}
	return scanMemberships(rows)
}

func membership(ctx context.Context, db dbtx, teamID, userID uuid.UUID) (core.Membership, error) {
	rows, err := db.Query(ctx, `SELECT `+membershipColumns+membershipFrom+`WHERE m.team_id = $1 AND m.user_id = $2`, teamID, userID)
	if err != nil {
		return core.Membership{}, err
	}
	ms, err := scanMemberships(rows)
	if err != nil {
		return core.Membership{}, err
	}
	if len(ms) == 0 {
		return core.Membership{}, core.ErrNotFound
	}
	return ms[0], nil
}

// Membership implements store.Teams.
func (s *Store) Membership(ctx context.Context, teamID, userID uuid.UUID) (core.Membership, error) {
	return membership(ctx, s.pool, teamID, userID)
}

// Members implements store.Teams.
func (s *Store) Members(ctx context.Context, teamID uuid.UUID) ([]core.Membership, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+membershipColumns+membershipFrom+`WHERE m.team_id = $1 ORDER BY m.created_at, u.id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return scanMemberships(rows)
}

// AddMember implements store.Teams.
func (s *Store) AddMember(ctx context.Context, teamID, userID uuid.UUID, role auth.Role) (core.Membership, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO memberships (team_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
		teamID, userID, role, core.Now()); err != nil {
		return core.Membership{}, fmt.Errorf("add member: %w", mapErr(err))
	}
	return s.Membership(ctx, teamID, userID)
}

// changeMember runs change on a membership while holding the team's
// membership rows locked, then refuses the result if no owner is left.
func (s *Store) changeMember(ctx context.Context, teamID, userID uuid.UUID, change func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the team's memberships so two concurrent demotions cannot
		// both see another owner left.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM memberships WHERE team_id = $1 FOR UPDATE`, teamID); err != nil {
			return err
		}
		if _, err := membership(ctx, tx, teamID, userID); err != nil {
			return err
		}
		if err := change(tx); err != nil {
			return err
		}
		var owners int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE team_id = $1 AND role = 'owner'`, teamID).Scan(&owners); err != nil {
			return err
		}
		if owners == 0 {
			return core.ErrLastOwner
		}
		return nil
	})
}

// SetMemberRole implements store.Teams.
func (s *Store) SetMemberRole(ctx context.Context, teamID, userID uuid.UUID, role auth.Role) (core.Membership, error) {
	err := s.changeMember(ctx, teamID, userID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE memberships SET role = $3 WHERE team_id = $1 AND user_id = $2`, teamID, userID, role)
		return err
	})
	if err != nil {
		return core.Membership{}, fmt.Errorf("change member role: %w", err)
	}
	return s.Membership(ctx, teamID, userID)
}

// RemoveMember implements store.Teams.
func (s *Store) RemoveMember(ctx context.Context, teamID, userID uuid.UUID) error {
	err := s.changeMember(ctx, teamID, userID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM memberships WHERE team_id = $1 AND user_id = $2`, teamID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	return nil
}

const tokenColumns = `id, team_id, name, role, hint, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row pgx.Row) (core.Token, error) {
	var t core.Token
	err := row.Scan(&t.ID, &t.TeamID, &t.Name, &t.Role, &t.Hint, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	for _, p := range []*time.Time{t.ExpiresAt, t.LastUsedAt, t.RevokedAt} {
		if p != nil {
			*p = p.UTC()
		}
	}
	return t, mapErr(err)
}

// CreateToken implements store.Tokens.
func (s *Store) CreateToken(ctx context.Context, teamID uuid.UUID, nt store.NewToken) (core.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `INSERT INTO api_tokens (id, team_id, name, role, token_hash, hint, created_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+tokenColumns,
		core.NewID(), teamID, nt.Name, nt.Role, nt.Hash, nt.Hint, nt.CreatedBy, core.Now(), nt.ExpiresAt))
	if err != nil {
		return core.Token{}, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}

// Tokens implements store.Tokens.
func (s *Store) Tokens(ctx context.Context, teamID uuid.UUID) ([]core.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE team_id = $1 ORDER BY created_at DESC, id DESC`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (core.Token, error) { return scanToken(row) })
}

// RevokeToken implements store.Tokens.
func (s *Store) RevokeToken(ctx context.Context, teamID, tokenID uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $3) WHERE team_id = $1 AND id = $2`,
		teamID, tokenID, core.Now())
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke token: %w", core.ErrNotFound)
	}
	return nil
}

// TokenByHash implements store.Tokens.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (core.Token, error) {
	return scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = $1`, hash))
}

// TouchToken implements store.Tokens.
func (s *Store) TouchToken(ctx context.Context, tokenID uuid.UUID, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)`, tokenID, at, at.Add(-time.Minute))
	if err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}

// CreateSession implements store.Sessions.
func (s *Store) CreateSession(ctx context.Context, sess core.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		sess.IDHash, sess.UserID, sess.CreatedAt, sess.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create session: %w", mapErr(err))
	}
	return nil
}

// SessionByHash implements store.Sessions.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, now time.Time) (core.Session, error) {
	var sess core.Session
	err := s.pool.QueryRow(ctx, `SELECT id_hash, user_id, created_at, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2`,
		hash, now).Scan(&sess.IDHash, &sess.UserID, &sess.CreatedAt, &sess.ExpiresAt)
	sess.CreatedAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.ExpiresAt.UTC()
	return sess, mapErr(err)
}

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements store.Sessions.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
