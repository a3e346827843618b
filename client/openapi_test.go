package client_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/apptest"
)

// wire lists, per operation, the client's request and response types: the
// types whose JSON fields the document must have. nil means no JSON body
// (or a body the client sends as it is given, such as a pipeline spec).
var wire = map[string]struct{ req, resp any }{
	"login":                    {map[string]string{"email": "", "password": ""}, struct{ User client.User }{}},
	"logout":                   {nil, nil},
	"me":                       {nil, client.Me{}},
	"list-teams":               {nil, struct{ Teams []client.Team }{}},
	"create-team":              {map[string]string{"name": ""}, client.Team{}},
	"get-team":                 {nil, client.Team{}},
	"list-members":             {nil, struct{ Members []client.Member }{}},
	"add-member":               {map[string]string{"email": "", "role": ""}, client.Member{}},
	"update-member":            {map[string]string{"role": ""}, client.Member{}},
	"remove-member":            {nil, nil},
	"list-tokens":              {nil, struct{ Tokens []client.Token }{}},
	"create-token":             {client.TokenRequest{}, client.CreatedToken{}},
	"revoke-token":             {nil, nil},
	"list-secrets":             {nil, struct{ Secrets []client.Secret }{}},
	"create-secret":            {map[string]string{"name": "", "value": ""}, client.Secret{}},
	"get-secret":               {nil, client.Secret{}},
	"rotate-secret":            {map[string]string{"value": ""}, client.Secret{}},
	"delete-secret":            {nil, nil},
	"list-sink-kinds":          {nil, struct{ Kinds []client.SinkKind }{}},
	"list-source-kinds":        {nil, struct{ Kinds []client.SourceKind }{}},
	"list-pipelines":           {nil, struct{ Pipelines []client.Pipeline }{}},
	"create-pipeline":          {nil, client.Pipeline{}},
	"get-pipeline":             {nil, client.Pipeline{}},
	"update-pipeline":          {nil, client.Pipeline{}},
	"delete-pipeline":          {nil, nil},
	"pause-pipeline":           {nil, client.Pipeline{}},
	"resume-pipeline":          {nil, client.Pipeline{}},
	"rotate-pipeline-token":    {nil, client.Pipeline{}},
	"run-pipeline":             {nil, client.RunNow{}},
	"get-pipeline-schedule":    {nil, client.Schedule{}},
	"preview-pipeline":         {client.Preview{}, client.PreviewResult{}},
	"list-records":             {nil, client.RecordPage{}},
	"list-rejected":            {nil, client.RejectedPage{}},
	"list-runs":                {nil, client.RunPage{}},
	"pipeline-series":          {nil, client.Series{}},
	"pipeline-storage":         {nil, client.Storage{}},
	"list-sinks":               {nil, struct{ Sinks []client.Sink }{}},
	"get-sink":                 {nil, client.Sink{}},
	"create-sink":              {nil, client.Sink{}},
	"update-sink":              {nil, client.Sink{}},
	"delete-sink":              {nil, nil},
	"list-deliveries":          {nil, client.DeliveryPage{}},
	"get-delivery":             {nil, client.Delivery{}},
	"retry-delivery":           {nil, client.Delivery{}},
	"start-replay":             {client.ReplayRequest{}, client.Replay{}},
	"list-replays":             {nil, struct{ Replays []client.Replay }{}},
	"get-replay":               {nil, client.Replay{}},
	"stream-records":           {nil, nil}, // text/event-stream
	"list-uploads":             {nil, struct{ Uploads []client.Upload }{}},
	"get-upload":               {nil, client.Upload{}},
	"create-upload":            {nil, nil}, // the file as it is; answers an upload
	"get-upload-file":          {nil, nil}, // the file
	"post-hook":                {nil, client.IngestResult{}},
	"list-dashboards":          {nil, struct{ Dashboards []client.Dashboard }{}},
	"create-dashboard":         {nil, client.Dashboard{}},
	"get-dashboard":            {nil, client.Dashboard{}},
	"update-dashboard":         {nil, client.Dashboard{}},
	"delete-dashboard":         {nil, nil},
	"dashboard-data":           {nil, client.DashboardData{}},
	"list-alert-rules":         {nil, struct{ Rules []client.AlertRule }{}},
	"create-alert-rule":        {nil, client.AlertRule{}},
	"get-alert-rule":           {nil, client.AlertRule{}},
	"update-alert-rule":        {nil, client.AlertRule{}},
	"delete-alert-rule":        {nil, nil},
	"list-alert-states":        {nil, struct{ States []client.AlertState }{}},
	"list-alert-history":       {nil, struct{ Transitions []client.AlertTransition }{}},
	"list-alert-channels":      {nil, struct{ Channels []client.AlertChannel }{}},
	"create-alert-channel":     {nil, client.AlertChannel{}},
	"get-alert-channel":        {nil, client.AlertChannel{}},
	"update-alert-channel":     {nil, client.AlertChannel{}},
	"delete-alert-channel":     {nil, nil},
	"test-alert-channel":       {nil, client.AlertChannel{}},
	"list-alert-silences":      {nil, struct{ Silences []client.AlertSilence }{}},
	"create-alert-silence":     {client.AlertSilenceRequest{}, client.AlertSilence{}},
	"delete-alert-silence":     {nil, nil},
	"list-alert-notifications": {nil, client.AlertNotifications{}},
	"read-alert-notifications": {client.AlertReadRequest{}, nil},
	"get-cluster":              {nil, client.Cluster{}},
}

// TestOpenAPIDocumentMatchesClient fetches the live OpenAPI document and
// fails when it and the client disagree: an operation the client does not
// know, or a field of the client's request and response types that the
// document's schemas do not have.
func TestOpenAPIDocumentMatchesClient(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	doc := fetchDocument(t, srv.URL)
	ops := documentOperations(t, srv.URL)
	for _, id := range sortedKeys(ops) {
		if _, ok := wire[id]; !ok {
			t.Errorf("the document has operation %s (%s %s), which the client does not know", id, ops[id].Method, ops[id].Path)
		}
	}
	for _, id := range sortedKeys(wire) {
		op, ok := ops[id]
		if !ok {
			t.Errorf("the client knows operation %s, which the document does not have", id)
			continue
		}
		w := wire[id]
		if w.req != nil {
			var s *schema
			if op.RequestBody != nil {
				s = op.RequestBody.Content["application/json"].Schema
			}
			if s == nil {
				t.Errorf("%s: the document has no JSON request body, the client sends %T", id, w.req)
			} else {
				checkFields(t, id+" request", &doc, reflect.TypeOf(w.req), w.req, s, "")
			}
		}
		if w.resp != nil {
			var s *schema
			for code, r := range op.Responses {
				if strings.HasPrefix(code, "2") {
					if c, ok := r.Content["application/json"]; ok {
						s = c.Schema
					}
				}
			}
			if s == nil {
				t.Errorf("%s: the document has no JSON response, the client decodes %T", id, w.resp)
				continue
			}
			checkFields(t, id+" response", &doc, reflect.TypeOf(w.resp), w.resp, s, "")
		}
	}
}

// checkFields fails for every JSON field of type typ missing from s.
func checkFields(t *testing.T, what string, doc *openAPI, typ reflect.Type, v any, s *schema, path string) {
	t.Helper()
	s = resolve(doc, s)
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		if s.Items != nil {
			s = resolve(doc, s.Items)
		}
	}
	switch {
	case typ == reflect.TypeFor[time.Time](), typ == reflect.TypeFor[json.RawMessage]():
		return
	case typ.Kind() == reflect.Map:
		if m, ok := v.(map[string]string); ok && s.Properties != nil {
			for k := range m {
				if _, ok := s.Properties[k]; !ok {
					t.Errorf("%s: the client sends field %s%s, which the document does not have", what, path, k)
				}
			}
		}
		return
	case typ.Kind() != reflect.Struct:
		return
	}
	if s.Properties == nil {
		t.Errorf("%s: %s is an object in the client (%s) but has no properties in the document", what, path, typ)
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous {
			checkFields(t, what, doc, f.Type, nil, s, path)
			continue
		}
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		ps, ok := s.Properties[name]
		if !ok {
			t.Errorf("%s: the client has field %s%s (%s.%s), which the document does not have", what, path, name, typ.Name(), f.Name)
			continue
		}
		checkFields(t, what, doc, f.Type, nil, ps, path+name+".")
	}
}

// resolve follows a $ref.
func resolve(doc *openAPI, s *schema) *schema {
	for s != nil && s.Ref != "" {
		s = doc.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	if s == nil {
		return &schema{}
	}
	return s
}
