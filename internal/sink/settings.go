package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tributary-dev/tributary/internal/core"
)

// decodeStrict decodes a kind's settings strictly, so that a misspelt
// setting is refused rather than ignored.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return errors.New("settings are not valid JSON")
		case errors.As(err, &typ):
			return fmt.Errorf("setting %q must be a %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown setting %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("settings: %w", err)
	}
	if dec.More() {
		return errors.New("settings are not one JSON object")
	}
	return nil
}

// jsonKind names a Go kind the way a JSON author thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "slice", "array":
		return "list"
	case "map", "struct":
		return "object"
	case "bool":
		return "boolean (true or false)"
	default:
		return "number"
	}
}

// teamSecretError describes a secret that could not be read; a missing one
// is permanent.
func teamSecretError(name string, err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return Permanent(fmt.Errorf("team secret %q does not exist; create it or change the sink", name))
	}
	return fmt.Errorf("read team secret %q: %w", name, err)
}
