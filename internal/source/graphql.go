package source

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/internal/mapping"
)

// GraphQLSpec is the spec of a GraphQL source (source.graphql):
//
//	"graphql": {
//	  "url": "https://api.example.com/graphql",
//	  "query": "query($after: String, $since: DateTime) { events(after: $after, since: $since) { nodes { id at } pageInfo { hasNextPage endCursor } } }",
//	  "variables": {"since": "{{ state.since }}"},
//	  "records": "events.nodes",
//	  "pagination": {"max_pages": 5},
//	  "auth": {"type": "bearer", "secret": "gh-token"}
//	}
type GraphQLSpec struct {
	// URL is the GraphQL endpoint, polled with POST.
	URL string `json:"url"`
	// Query is the GraphQL document.
	Query string `json:"query"`
	// OperationName selects an operation of a document with several.
	OperationName string `json:"operation_name,omitempty"`
	// Variables are the query's variables; strings may hold templates, and
	// a string that is exactly one template takes the state value's type.
	Variables map[string]any `json:"variables,omitempty"`
	// Headers holds request headers (templated). Credentials go in Auth.
	Headers map[string]string `json:"headers,omitempty"`
	// Auth authenticates the requests.
	Auth *AuthSpec `json:"auth,omitempty"`
	// Records is the path of the records under the response's data, such
	// as "repository.issues.nodes".
	Records string `json:"records"`
	// Pagination follows Relay cursors.
	Pagination *GraphQLPagination `json:"pagination,omitempty"`
	// Dedup drops records stored before.
	Dedup *DedupSpec `json:"dedup,omitempty"`
	// Timeout bounds each request, such as "30s" (the default).
	Timeout string `json:"timeout,omitempty"`
	// MaxBytes bounds each response body.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// GraphQLPagination follows a Relay connection: while its pageInfo says
// hasNextPage, the query runs again with the cursor variable set to
// endCursor.
type GraphQLPagination struct {
	// Type is "relay", the only one (and the default).
	Type string `json:"type,omitempty"`
	// PageInfo is the path of the connection's pageInfo under data; by
	// default the sibling of the records ("events.nodes" →
	// "events.pageInfo").
	PageInfo string `json:"page_info,omitempty"`
	// Cursor is the variable that takes endCursor; default "after".
	Cursor string `json:"cursor,omitempty"`
	// MaxPages bounds the pages of one poll: 1 to 1000, default 10.
	MaxPages int `json:"max_pages,omitempty"`
}

// GraphQLKind polls a GraphQL endpoint.
var GraphQLKind = Kind{
	Name:    "graphql",
	Summary: "Polls a GraphQL endpoint with a query, variables from the state and Relay cursor pagination.",
	Description: "POSTs a GraphQL query to an endpoint on the pipeline's interval and reads the records at `records` under the response's data. " +
		"Variables may refer to the pipeline's state as `{{ state.NAME }}`; `pagination` follows a Relay connection's " +
		"`pageInfo` up to `max_pages`; credentials are team secrets named in `auth`.",
	NewSpec: func() any { return new(GraphQLSpec) },
	Build:   buildGraphQL,
	Secrets: func(spec any) []SecretRef { return spec.(*GraphQLSpec).Auth.secrets("auth") },
	Example: `{"url":"https://api.example.com/graphql",` +
		`"query":"query($after: String, $since: DateTime) { events(after: $after, since: $since) { nodes { id at } pageInfo { hasNextPage endCursor } } }",` +
		`"variables":{"since":"{{ state.since }}"},"records":"events.nodes","pagination":{"max_pages":5},` +
		`"auth":{"type":"bearer","secret":"gh-token"}}`,
}

type graphqlSource struct {
	url       urlTemplate
	query     string
	operation string
	variables jsonTemplate
	headers   []headerTmpl
	auth      *authConf
	records   mapping.Path
	paged     bool
	pageInfo  mapping.Path
	cursorVar string
	maxPages  int
	timeout   time.Duration
	maxBytes  int64
}

func buildGraphQL(spec any, b *Builder) Fetcher {
	s := spec.(*GraphQLSpec)
	g := &graphqlSource{query: s.Query, operation: s.OperationName, maxPages: 1}
	g.url = b.urlTemplate("url", s.URL)
	if strings.TrimSpace(s.Query) == "" {
		b.Problem("query", "is required: the GraphQL query that returns the records")
	} else if len(s.Query) > 100<<10 {
		b.Problem("query", "is longer than 100 KiB")
	}
	vars := map[string]any{}
	for k, v := range s.Variables {
		vars[k] = v
	}
	g.variables = b.jsonTemplate("variables", vars)
	g.headers = b.headers("headers", s.Headers)
	g.auth = b.auth("auth", s.Auth)
	if s.Records == "" {
		b.Problem("records", `is required: the path of the records under data, such as "events.nodes"`)
	}
	g.records = b.path("records", s.Records)
	if p := s.Pagination; p != nil {
		g.paged = true
		if p.Type != "" && p.Type != "relay" {
			b.Problem("pagination.type", fmt.Sprintf(`%q is not a GraphQL pagination type: use "relay"`, p.Type))
		}
		if p.PageInfo != "" {
			g.pageInfo = b.path("pagination.page_info", p.PageInfo)
		} else if !g.records.Empty() {
			g.pageInfo = g.records.Parent().Child("pageInfo")
		}
		g.cursorVar = orDefault(p.Cursor, "after")
		if !validStateName(g.cursorVar) {
			b.Problem("pagination.cursor", "must be a GraphQL variable name, such as after")
		} else if !strings.Contains(s.Query, "$"+g.cursorVar) {
			b.Problem("pagination.cursor", fmt.Sprintf("the query does not use $%s; declare it, such as query($%s: String) { … (after: $%s) … }", g.cursorVar, g.cursorVar, g.cursorVar))
		}
		switch {
		case p.MaxPages == 0:
			g.maxPages = DefaultMaxPages
		case p.MaxPages < 1 || p.MaxPages > MaxPagesLimit:
			b.Problem("pagination.max_pages", fmt.Sprintf("%d is not between 1 and %d", p.MaxPages, MaxPagesLimit))
		default:
			g.maxPages = p.MaxPages
		}
	}
	b.dedupSpec("dedup", s.Dedup)
	g.timeout = b.duration("timeout", s.Timeout, DefaultTimeout, time.Second, MaxTimeout)
	if s.MaxBytes < 0 || s.MaxBytes > 0 && s.MaxBytes < 1024 {
		b.Problem("max_bytes", "must be at least 1024")
	}
	g.maxBytes = s.MaxBytes
	return g
}

// Fetch implements Fetcher.
func (g *graphqlSource) Fetch(ctx context.Context, r *Run) error {
	auth, err := r.openAuth(ctx, g.auth)
	if err != nil {
		return err
	}
	vals := r.Values()
	u, err := renderURL(g.url, nil, vals)
	if err != nil {
		return err
	}
	header := renderHeaders(g.headers, vals)
	header.Set("Content-Type", "application/json")
	if header.Get("Accept") == "" {
		header.Set("Accept", "application/graphql-response+json, application/json")
	}
	vars, _ := g.variables.render(vals).(map[string]any)
	maxPages := r.MaxPages(g.maxPages)
	last := ""
	for page := 1; ; page++ {
		payload := map[string]any{"query": g.query, "variables": vars}
		if g.operation != "" {
			payload["operationName"] = g.operation
		}
		body, err := json.Marshal(payload)
		if err != nil {
			return errorf("the GraphQL request cannot be encoded: %v", err)
		}
		resp, err := r.send(ctx, &request{method: http.MethodPost, url: u, header: header, body: body,
			timeout: g.timeout, maxBytes: g.maxBytes, auth: auth})
		if err != nil {
			return err
		}
		where := "POST " + redactedURL(u)
		doc, err := decodeJSON(resp.body)
		if err != nil {
			return errorf("%s: %v", where, err)
		}
		obj, ok := doc.(map[string]any)
		if !ok {
			return errorf("%s: the response is %s, not a GraphQL response object", where, kindOf(doc))
		}
		if errs, ok := obj["errors"].([]any); ok && len(errs) > 0 {
			return errorf("%s: the GraphQL query failed: %s", where, graphqlErrors(errs))
		}
		data, ok := obj["data"]
		if !ok || data == nil {
			return errorf("%s: the response has no data", where)
		}
		r.Seen(data)
		recs, err := recordsAt(data, g.records)
		if err != nil {
			return errorf("%s: %s", where, strings.Replace(err.Error(), "the response has", "the response's data has", 1))
		}
		if !r.Add(recs) || !g.paged {
			return nil
		}
		info, ok := g.pageInfo.Lookup(data)
		if !ok {
			return errorf("%s: the response's data has no pageInfo at %q; select pageInfo { hasNextPage endCursor } or set pagination.page_info", where, g.pageInfo.String())
		}
		m, _ := info.(map[string]any)
		hasNext, _ := m["hasNextPage"].(bool)
		cursor := textOf(m["endCursor"])
		if !hasNext || cursor == "" || cursor == last {
			return nil
		}
		if page >= maxPages {
			r.More()
			return nil
		}
		last = cursor
		if vars == nil {
			vars = map[string]any{}
		}
		vars[g.cursorVar] = cursor
	}
}

// graphqlErrors joins the messages of a GraphQL errors list (at most
// three, each shortened).
func graphqlErrors(errs []any) string {
	var msgs []string
	for i, e := range errs {
		if i == 3 {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(errs)-3))
			break
		}
		m, _ := e.(map[string]any)
		msg := snippet([]byte(textOf(m["message"])), 200)
		if msg == "" {
			msg = "(no message)"
		}
		if p, ok := m["path"].([]any); ok && len(p) > 0 {
			parts := make([]string, len(p))
			for j, x := range p {
				parts[j] = textOf(x)
			}
			msg += " (at " + strings.Join(parts, ".") + ")"
		}
		msgs = append(msgs, msg)
	}
	return strings.Join(msgs, "; ")
}
