package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/vault"
)

// Team secrets: any member may list them (names and dates only); editors
// create and rotate them, because editors build the pipelines that use
// them; deleting one breaks whatever uses it, so it needs an admin, and a
// secret a pipeline refers to cannot be deleted.

// Secrets lists the team's secrets, without values (viewer).
func (s *Service) Secrets(ctx context.Context, who Caller) ([]vault.Secret, error) {
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	return s.v.List(ctx, team)
}

// Secret returns a secret's metadata (viewer).
func (s *Service) Secret(ctx context.Context, who Caller, name string) (vault.Secret, error) {
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return vault.Secret{}, err
	}
	return s.v.Get(ctx, team, name)
}

// CreateSecret seals a new secret of the team (editor).
func (s *Service) CreateSecret(ctx context.Context, who Caller, name string, value []byte) (vault.Secret, error) {
	team, _, err := s.access(who, auth.Editor)
	if err != nil {
		return vault.Secret{}, err
	}
	if err := secretProblems(name, value, true); err != nil {
		return vault.Secret{}, err
	}
	return s.v.Create(ctx, team, name, value)
}

// RotateSecret replaces a secret's value (editor). Webhook signature
// checks of the team use the new value from the next request on.
func (s *Service) RotateSecret(ctx context.Context, who Caller, name string, value []byte) (vault.Secret, error) {
	team, _, err := s.access(who, auth.Editor)
	if err != nil {
		return vault.Secret{}, err
	}
	if err := secretProblems(name, value, false); err != nil {
		return vault.Secret{}, err
	}
	sec, err := s.v.Rotate(ctx, team, name, value)
	if err != nil {
		return sec, err
	}
	s.secretChanged(ctx, team) // verifiers hold the old value
	return sec, nil
}

// DeleteSecret deletes a secret no pipeline refers to (admin); one in use
// gives ErrConflict naming the pipelines. The check and the deletion are
// one transaction: a pipeline saved meanwhile either keeps the secret or
// is refused.
func (s *Service) DeleteSecret(ctx context.Context, who Caller, name string) error {
	team, _, err := s.access(who, auth.Admin)
	if err != nil {
		return err
	}
	users, err := s.v.DeleteIfUnused(ctx, team, name, func(ps []core.Pipeline) []string { return s.secretUsers(ps, name) })
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return newError(ErrConflict, "Secret %q is used by pipeline %s; change the pipeline first.", name, strings.Join(quoteAll(users), ", "))
	}
	s.secretChanged(ctx, team)
	return nil
}

// secretChanged tells the side effects of each pipeline of the team that
// one of the team's secrets changed.
func (s *Service) secretChanged(ctx context.Context, team uuid.UUID) {
	if s.hk == nil {
		return
	}
	ps, err := s.st.Pipelines(ctx, team)
	if err != nil {
		s.log.WarnContext(ctx, "list pipelines after a secret changed; webhook caches catch up on their own", "team", team, "err", err)
		return
	}
	for _, p := range ps {
		s.changed(ctx, change{ev: evSecret, p: p})
	}
}

// secretUsers names the pipelines that refer to the secret.
func (s *Service) secretUsers(ps []core.Pipeline, name string) []string {
	var users []string
	for _, p := range ps {
		for _, ref := range s.compiler.SecretRefsOf(p.Spec) {
			if ref.Name == name {
				users = append(users, p.Name)
				break
			}
		}
	}
	return users
}

func noSecret(path, name string) pipeline.Problem {
	return pipeline.Problem{Path: path, Message: fmt.Sprintf("the team has no secret named %q; create it first (POST /api/v1/secrets)", name)}
}

// checkSecrets refuses a spec that names secrets the team does not have,
// or a signing secret that is not a Standard Webhooks secret.
func (s *Service) checkSecrets(ctx context.Context, team uuid.UUID, c *pipeline.Compiled) error {
	var problems []pipeline.Problem
	for _, ref := range c.SecretRefs() {
		var err error
		if ref.Signing {
			var value []byte
			if value, err = s.v.Open(ctx, team, ref.Name); err == nil {
				_, err = signature.ParseSecret(string(value))
				clear(value)
				if err != nil {
					problems = append(problems, pipeline.Problem{Path: ref.Path, Message: fmt.Sprintf(
						"secret %q is not a Standard Webhooks signing secret (whsec_ followed by base64); rotate it to one", ref.Name)})
					continue
				}
			}
		} else {
			_, err = s.v.Get(ctx, team, ref.Name)
		}
		switch {
		case errors.Is(err, core.ErrNotFound):
			problems = append(problems, noSecret(ref.Path, ref.Name))
		case err != nil:
			return fmt.Errorf("check secret: %w", err)
		}
	}
	if len(problems) > 0 {
		return invalid("The pipeline spec refers to a secret it cannot use; see errors.", problems...)
	}
	return nil
}

// checkSinks refuses a spec whose sinks do not check out: unknown kinds,
// bad or forbidden URLs, malformed settings, secrets the team lacks. It
// returns the secrets the sinks' kinds name beyond secretRefs.
func (s *Service) checkSinks(ctx context.Context, team uuid.UUID, c *pipeline.Compiled) ([]pipeline.SecretRef, error) {
	if s.sk == nil || len(c.Spec.Sinks) == 0 {
		return nil, nil
	}
	problems, extra := s.sk.Check(c.Spec.Sinks)
	var refs []pipeline.SecretRef
	for _, ref := range extra {
		refs = append(refs, pipeline.SecretRef{Path: ref.Path, Name: ref.Name})
		_, err := s.v.Get(ctx, team, ref.Name)
		switch {
		case errors.Is(err, core.ErrNotFound):
			problems = append(problems, noSecret(ref.Path, ref.Name))
		case err != nil:
			return nil, fmt.Errorf("check secret: %w", err)
		}
	}
	if len(problems) == 0 {
		return refs, nil
	}
	msg := "The pipeline's sinks have a problem; see errors."
	if len(problems) > 1 {
		msg = fmt.Sprintf("The pipeline's sinks have %d problems; see errors.", len(problems))
	}
	return nil, invalid(msg, problems...)
}

// secretProblems checks a secret's name (when it is in the body, on
// create) and value, locating each problem in the request's body; the
// messages never quote the value.
func secretProblems(name string, value []byte, withName bool) error {
	var ps []pipeline.Problem
	if withName {
		if err := vault.ValidName(name); err != nil {
			ps = append(ps, pipeline.Problem{Path: "name", Message: strings.TrimPrefix(err.Error(), core.ErrInvalid.Error()+": ")})
		}
	}
	if err := vault.ValidValue(value); err != nil {
		ps = append(ps, pipeline.Problem{Path: "value", Message: strings.TrimPrefix(err.Error(), core.ErrInvalid.Error()+": ")})
	}
	if len(ps) == 0 {
		return nil
	}
	return invalid("The secret is not valid; errors says what to change.", ps...)
}
