package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// row is what *sql.Row and *sql.Rows share.
type row interface{ Scan(dest ...any) error }

const userColumns = `id, email, is_admin, created_at`

func scanUser(r row, extra ...any) (core.User, error) {
	var (
		u       core.User
		created int64
	)
	err := r.Scan(append([]any{&u.ID, &u.Email, &u.IsAdmin, &created}, extra...)...)
	u.CreatedAt = fromMicros(created)
	return u, mapErr(err)
}

func insertUser(ctx context.Context, db dbtx, u store.NewUser) (core.User, error) {
	user, err := scanUser(db.QueryRowContext(ctx, `INSERT INTO users (id, email, password_hash, is_admin, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING `+userColumns,
		core.NewID(), u.Email, u.PasswordHash, u.IsAdmin, micros(core.Now())))
	if err != nil {
		return core.User{}, fmt.Errorf("create user: %w", err)
	}
	return user, nil
}

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u store.NewUser) (core.User, error) {
	var user core.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		user, err = insertUser(ctx, tx, u)
		return err
	})
	return user, err
}

// UserByID implements store.Users.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (core.User, error) {
	return scanUser(s.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// UserByEmail implements store.Users.
func (s *Store) UserByEmail(ctx context.Context, email string) (core.User, string, error) {
	var hash string
	u, err := scanUser(s.read.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = lower(?)`, email), &hash)
	return u, hash, err
}

// CountUsers implements store.Users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// SetupFirstAccount implements store.Users.
func (s *Store) SetupFirstAccount(ctx context.Context, nu store.NewUser, nt store.NewTeam) (core.User, core.Team, error) {
	var (
		user core.User
		team core.Team
	)
	// The immediate transaction holds SQLite's write lock from its start,
	// so the count cannot change under it.
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
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

func scanTeam(r row) (core.Team, error) {
	var (
		t       core.Team
		created int64
	)
	err := r.Scan(&t.ID, &t.Name, &t.Slug, &created)
	t.CreatedAt = fromMicros(created)
	return t, mapErr(err)
}

func insertTeam(ctx context.Context, db dbtx, nt store.NewTeam, owner uuid.UUID) (core.Team, error) {
	now := micros(core.Now())
	team, err := scanTeam(db.QueryRowContext(ctx, `INSERT INTO teams (id, name, slug, created_at)
		VALUES (?, ?, ?, ?) RETURNING id, name, slug, created_at`, core.NewID(), nt.Name, nt.Slug, now))
	if err != nil {
		return core.Team{}, fmt.Errorf("create team %q: %w", nt.Slug, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO memberships (team_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
		team.ID, owner, auth.Owner, now); err != nil {
		return core.Team{}, fmt.Errorf("add owner to team %q: %w", nt.Slug, mapErr(err))
	}
	return team, nil
}

// CreateTeam implements store.Teams.
func (s *Store) CreateTeam(ctx context.Context, nt store.NewTeam, owner uuid.UUID) (core.Team, error) {
	var team core.Team
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		team, err = insertTeam(ctx, tx, nt, owner)
		return err
	})
	return team, err
}

// Team implements store.Teams.
func (s *Store) Team(ctx context.Context, id uuid.UUID) (core.Team, error) {
	return scanTeam(s.read.QueryRowContext(ctx, `SELECT `+teamColumns+` FROM teams t WHERE t.id = ?`, id))
}

// RenameTeam implements store.Teams.
func (s *Store) RenameTeam(ctx context.Context, id uuid.UUID, name string) (core.Team, error) {
	t, err := scanTeam(s.write.QueryRowContext(ctx, `UPDATE teams SET name = ? WHERE id = ? RETURNING id, name, slug, created_at`, name, id))
	if err != nil {
		return core.Team{}, fmt.Errorf("rename team: %w", err)
	}
	return t, nil
}

// TeamBySlug implements store.Teams.
func (s *Store) TeamBySlug(ctx context.Context, slug string) (core.Team, error) {
	return scanTeam(s.read.QueryRowContext(ctx, `SELECT `+teamColumns+` FROM teams t WHERE t.slug = ?`, slug))
}

const membershipColumns = `m.team_id, m.user_id, m.role, m.created_at, ` + teamColumns + `, u.id, u.email, u.is_admin, u.created_at`

const membershipFrom = ` FROM memberships m JOIN teams t ON t.id = m.team_id JOIN users u ON u.id = m.user_id `

func queryMemberships(ctx context.Context, db dbtx, where string, args ...any) ([]core.Membership, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+membershipColumns+membershipFrom+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []core.Membership
	for rows.Next() {
		var (
			m                      core.Membership
			created, tCreated, uCr int64
		)
		if err := rows.Scan(&m.TeamID, &m.UserID, &m.Role, &created,
			&m.Team.ID, &m.Team.Name, &m.Team.Slug, &tCreated,
			&m.User.ID, &m.User.Email, &m.User.IsAdmin, &uCr); err != nil {
			return nil, err
		}
		m.CreatedAt, m.Team.CreatedAt, m.User.CreatedAt = fromMicros(created), fromMicros(tCreated), fromMicros(uCr)
		out = append(out, m)
	}
	return out, rows.Err()
}

// UserTeams implements store.Teams.
func (s *Store) UserTeams(ctx context.Context, userID uuid.UUID) ([]core.Membership, error) {
	ms, err := queryMemberships(ctx, s.read, `WHERE m.user_id = ? ORDER BY m.created_at, t.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list teams of user: %w", err)
	}
	return ms, nil
}

func membership(ctx context.Context, db dbtx, teamID, userID uuid.UUID) (core.Membership, error) {
	ms, err := queryMemberships(ctx, db, `WHERE m.team_id = ? AND m.user_id = ?`, teamID, userID)
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
	return membership(ctx, s.read, teamID, userID)
}

// Members implements store.Teams.
func (s *Store) Members(ctx context.Context, teamID uuid.UUID) ([]core.Membership, error) {
	ms, err := queryMemberships(ctx, s.read, `WHERE m.team_id = ? ORDER BY m.created_at, u.id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return ms, nil
}

// AddMember implements store.Teams.
func (s *Store) AddMember(ctx context.Context, teamID, userID uuid.UUID, role auth.Role) (core.Membership, error) {
	if _, err := s.write.ExecContext(ctx, `INSERT INTO memberships (team_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
		teamID, userID, role, micros(core.Now())); err != nil {
		return core.Membership{}, fmt.Errorf("add member: %w", mapErr(err))
	}
	return s.Membership(ctx, teamID, userID)
}

// changeMember runs change on a membership in one write transaction, then
// refuses the result if the team has no owner left.
func (s *Store) changeMember(ctx context.Context, teamID, userID uuid.UUID, change func(tx *sql.Tx) error) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := membership(ctx, tx, teamID, userID); err != nil {
			return err
		}
		if err := change(tx); err != nil {
			return err
		}
		var owners int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM memberships WHERE team_id = ? AND role = 'owner'`, teamID).Scan(&owners); err != nil {
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
	err := s.changeMember(ctx, teamID, userID, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE memberships SET role = ? WHERE team_id = ? AND user_id = ?`, role, teamID, userID)
		return err
	})
	if err != nil {
		return core.Membership{}, fmt.Errorf("change member role: %w", err)
	}
	return s.Membership(ctx, teamID, userID)
}

// RemoveMember implements store.Teams.
func (s *Store) RemoveMember(ctx context.Context, teamID, userID uuid.UUID) error {
	err := s.changeMember(ctx, teamID, userID, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE team_id = ? AND user_id = ?`, teamID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	return nil
}

const tokenColumns = `id, team_id, name, role, hint, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(r row) (core.Token, error) {
	var (
		t                          core.Token
		createdBy                  uuid.NullUUID
		created                    int64
		expires, lastUsed, revoked sql.NullInt64
	)
	err := r.Scan(&t.ID, &t.TeamID, &t.Name, &t.Role, &t.Hint, &createdBy, &created, &expires, &lastUsed, &revoked)
	if createdBy.Valid {
		t.CreatedBy = &createdBy.UUID
	}
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromNullMicros(expires), fromNullMicros(lastUsed), fromNullMicros(revoked)
	return t, mapErr(err)
}

// CreateToken implements store.Tokens.
func (s *Store) CreateToken(ctx context.Context, teamID uuid.UUID, nt store.NewToken) (core.Token, error) {
	var createdBy any
	if nt.CreatedBy != nil {
		createdBy = *nt.CreatedBy
	}
	t, err := scanToken(s.write.QueryRowContext(ctx, `INSERT INTO api_tokens (id, team_id, name, role, token_hash, hint, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+tokenColumns,
		core.NewID(), teamID, nt.Name, nt.Role, nt.Hash, nt.Hint, createdBy, micros(core.Now()), nullMicros(nt.ExpiresAt)))
	if err != nil {
		return core.Token{}, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}

// Tokens implements store.Tokens.
func (s *Store) Tokens(ctx context.Context, teamID uuid.UUID) ([]core.Token, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE team_id = ? ORDER BY created_at DESC, id DESC`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []core.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements store.Tokens.
func (s *Store) RevokeToken(ctx context.Context, teamID, tokenID uuid.UUID) error {
	res, err := s.write.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE team_id = ? AND id = ?`,
		micros(core.Now()), teamID, tokenID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token: %w", core.ErrNotFound)
	}
	return nil
}

// TokenByHash implements store.Tokens.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (core.Token, error) {
	return scanToken(s.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_hash = ?`, hash))
}

// TouchToken implements store.Tokens.
func (s *Store) TouchToken(ctx context.Context, tokenID uuid.UUID, at time.Time) error {
	_, err := s.write.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, micros(at), tokenID, micros(at.Add(-time.Minute)))
	if err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}

// CreateSession implements store.Sessions.
func (s *Store) CreateSession(ctx context.Context, sess core.Session) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		sess.IDHash, sess.UserID, micros(sess.CreatedAt), micros(sess.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session: %w", mapErr(err))
	}
	return nil
}

// SessionByHash implements store.Sessions.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, now time.Time) (core.Session, error) {
	var (
		sess             core.Session
		created, expires int64
	)
	err := s.read.QueryRowContext(ctx, `SELECT id_hash, user_id, created_at, expires_at FROM sessions WHERE id_hash = ? AND expires_at > ?`,
		hash, micros(now)).Scan(&sess.IDHash, &sess.UserID, &created, &expires)
	sess.CreatedAt, sess.ExpiresAt = fromMicros(created), fromMicros(expires)
	return sess, mapErr(err)
}

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements store.Sessions.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, micros(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
