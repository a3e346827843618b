package core

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Dashboard is a team's named grid of widgets over its pipelines, stored
// as a document (see package dashboard).
type Dashboard struct {
	ID     uuid.UUID
	TeamID uuid.UUID
	// Name is unique in the team; it is the document's name too.
	Name string
	// Version starts at 1 and grows with every change.
	Version int
	// Doc is the dashboard document (canonical JSON) as last saved; its
	// widgets name pipelines by id.
	Doc json.RawMessage
	// CreatedBy is the user who created it; nil when unknown (a token
	// without a user, or a user since deleted).
	CreatedBy *uuid.UUID
	CreatedAt time.Time
	UpdatedAt time.Time
}
