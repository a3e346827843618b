package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tributary-dev/tributary/internal/vault"
)

// Team secrets: named credentials that pipeline and sink specs refer to.
//
// Roles: any member may list them (names and dates only); editors create
// and rotate them, because editors build the pipelines that use them;
// deleting one breaks whatever uses it, so it needs an admin.
//
// A value never leaves the server and never reaches a log or an error:
// request bodies are decoded here rather than by huma, whose validation
// errors echo the offending value (or the whole body) back to the client.

// SecretBody is a team secret as the API shows it: never its value.
type SecretBody struct {
	Name      string    `json:"name" doc:"The name pipeline and sink specs refer to the secret by."`
	CreatedAt time.Time `json:"created_at"`
	RotatedAt time.Time `json:"rotated_at" doc:"When the value was last replaced; equal to created_at until the first rotation."`
}

func secretBody(s vault.Secret) SecretBody {
	return SecretBody{Name: s.Name, CreatedAt: s.CreatedAt, RotatedAt: s.RotatedAt}
}

// secretCreateDoc documents the create request; the handler decodes it.
type secretCreateDoc struct {
	Name  string `json:"name" pattern:"^[a-z0-9_-]{1,64}$" doc:"1 to 64 characters of a-z, 0-9, _ and -."`
	Value string `json:"value" maxLength:"65536" writeOnly:"true" doc:"The credential, at most 64 KiB. It is sealed at once and never shown again."`
}

// secretRotateDoc documents the rotate request; the handler decodes it.
type secretRotateDoc struct {
	Value string `json:"value" maxLength:"65536" writeOnly:"true" doc:"The new value, at most 64 KiB."`
}

type secretOutput struct {
	Body SecretBody
}

type secretsOutput struct {
	Body struct {
		Secrets []SecretBody `json:"secrets"`
	}
}

// SecretScope selects one secret of the team.
type SecretScope struct {
	TeamScope
	Name string `path:"name" maxLength:"64" doc:"The secret's name."`
}

type createSecretInput struct {
	TeamScope
	RawBody []byte
}

type rotateSecretInput struct {
	SecretScope
	RawBody []byte
}

func (r *pipelineRoutes) registerSecretRoutes() {
	api := r.s.api
	tags := []string{"Secrets"}

	huma.Register(api, huma.Operation{
		OperationID: "create-secret", Method: http.MethodPost, Path: "/api/v1/secrets", Tags: tags,
		Summary:       "Create a secret",
		Description:   "Seals a credential under a name that pipeline and sink specs refer to. The value is never returned by any endpoint. Needs editor.",
		DefaultStatus: http.StatusCreated,
	}, r.createSecret)
	documentRawJSON(api, http.MethodPost, "/api/v1/secrets", reflect.TypeFor[secretCreateDoc]())

	huma.Register(api, huma.Operation{
		OperationID: "list-secrets", Method: http.MethodGet, Path: "/api/v1/secrets", Tags: tags,
		Summary: "List the team's secrets", Description: "Names and dates only; values are never returned.",
	}, r.listSecrets)

	huma.Register(api, huma.Operation{
		OperationID: "get-secret", Method: http.MethodGet, Path: "/api/v1/secrets/{name}", Tags: tags,
		Summary: "Get a secret's metadata", Description: "Its name and dates; the value is never returned.",
	}, r.getSecret)

	huma.Register(api, huma.Operation{
		OperationID: "rotate-secret", Method: http.MethodPut, Path: "/api/v1/secrets/{name}", Tags: tags,
		Summary:     "Rotate a secret",
		Description: "Replaces the value. Pipelines read the new value from their next request on. Needs editor.",
	}, r.rotateSecret)
	documentRawJSON(api, http.MethodPut, "/api/v1/secrets/{name}", reflect.TypeFor[secretRotateDoc]())

	huma.Register(api, huma.Operation{
		OperationID: "delete-secret", Method: http.MethodDelete, Path: "/api/v1/secrets/{name}", Tags: tags,
		Summary:       "Delete a secret",
		Description:   "Refused with 409 while a pipeline refers to the secret. Needs admin.",
		DefaultStatus: http.StatusNoContent,
	}, r.deleteSecret)
}

func (r *pipelineRoutes) createSecret(ctx context.Context, in *createSecretInput) (*secretOutput, error) {
	var body struct {
		Name  *string `json:"name"`
		Value *string `json:"value"`
	}
	if err := decodeSecretBody(in.RawBody, &body, `{"name": "...", "value": "..."}`); err != nil {
		return nil, err
	}
	if body.Name == nil || body.Value == nil {
		return nil, huma.Error422UnprocessableEntity(`The body needs both "name" and "value".`, missingFields(map[string]bool{"name": body.Name == nil, "value": body.Value == nil})...)
	}
	sec, err := r.svc.CreateSecret(ctx, caller(ctx, in.TeamScope), *body.Name, []byte(*body.Value))
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &secretOutput{Body: secretBody(sec)}, nil
}

func (r *pipelineRoutes) listSecrets(ctx context.Context, in *TeamScope) (*secretsOutput, error) {
	ss, err := r.svc.Secrets(ctx, caller(ctx, *in))
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &secretsOutput{}
	out.Body.Secrets = make([]SecretBody, 0, len(ss))
	for _, sec := range ss {
		out.Body.Secrets = append(out.Body.Secrets, secretBody(sec))
	}
	return out, nil
}

func (r *pipelineRoutes) getSecret(ctx context.Context, in *SecretScope) (*secretOutput, error) {
	sec, err := r.svc.Secret(ctx, caller(ctx, in.TeamScope), in.Name)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &secretOutput{Body: secretBody(sec)}, nil
}

func (r *pipelineRoutes) rotateSecret(ctx context.Context, in *rotateSecretInput) (*secretOutput, error) {
	var body struct {
		Value *string `json:"value"`
	}
	if err := decodeSecretBody(in.RawBody, &body, `{"value": "..."}`); err != nil {
		return nil, err
	}
	if body.Value == nil {
		return nil, huma.Error422UnprocessableEntity(`The body needs "value".`, missingFields(map[string]bool{"value": true})...)
	}
	sec, err := r.svc.RotateSecret(ctx, caller(ctx, in.TeamScope), in.Name, []byte(*body.Value))
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &secretOutput{Body: secretBody(sec)}, nil
}

func (r *pipelineRoutes) deleteSecret(ctx context.Context, in *SecretScope) (*struct{}, error) {
	if err := r.svc.DeleteSecret(ctx, caller(ctx, in.TeamScope), in.Name); err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return nil, nil
}

// decodeSecretBody decodes a secrets request strictly into v. Its errors
// never quote the body: it may hold the secret.
func decodeSecretBody(raw []byte, v any, shape string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, tokErr := dec.Token(); tokErr != io.EOF {
			return huma.Error400BadRequest("The body must be one JSON object, with nothing after it: " + shape + ".")
		}
	}
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return huma.Error400BadRequest(fmt.Sprintf("The body is not valid JSON (at byte %d); send %s.", syn.Offset, shape))
	case errors.As(err, &typ) && typ.Field != "":
		return huma.Error422UnprocessableEntity(fmt.Sprintf("%q must be a JSON string; send %s.", typ.Field, shape),
			&huma.ErrorDetail{Location: "body." + typ.Field, Message: "must be a JSON string"})
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		// The field's name is not echoed: a misplaced value could be a key.
		return huma.Error422UnprocessableEntity("The body has a field other than those of "+shape+".",
			&huma.ErrorDetail{Location: "body", Message: "has an unknown field"})
	}
	return huma.Error400BadRequest("The body must be one JSON object: " + shape + ".")
}

// missingFields lists the required fields of a secrets request that are
// missing, each located in the body.
func missingFields(missing map[string]bool) []error {
	var errs []error
	for _, f := range []string{"name", "value"} {
		if missing[f] {
			errs = append(errs, &huma.ErrorDetail{Location: "body." + f, Message: "is required"})
		}
	}
	return errs
}
