package source_test

import (
	"strings"
	"testing"
)

func TestBuildProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, kind, spec, state string
		want                    []string // "path: message part"
	}{
		{"no url", "http", `{}`, "", []string{"http.url: is required"}},
		{"not http", "http", `{"url":"ftp://x/y"}`, "", []string{"http.url: must be an http or https URL"}},
		{"credentials in url", "http", `{"url":"https://u:p@x/"}`, "", []string{"http.url: must not hold a user name or password"}},
		{"template in host", "http", `{"url":"https://{{ state.h }}.example.com/"}`, `{"h":{"from":"h"}}`, []string{"http.url: has a template in its host"}},
		{"unknown template", "http", `{"url":"https://x/{{ now }}"}`, "", []string{"http.url: has the template {{ now }}; the only template is {{ state.NAME }}"}},
		{"undeclared state", "http", `{"url":"https://x/","query":{"since":"{{ state.since }}"}}`, "", []string{"http.query.since: refers to {{ state.since }}, but source.state has no variable since"}},
		{"unclosed template", "http", `{"url":"https://x/","headers":{"X-A":"{{ state.a"}}`, `{"a":{"from":"a"}}`, []string{`http.headers.X-A: has "{{" without a closing "}}"`}},
		{"authorization header", "http", `{"url":"https://x/","headers":{"authorization":"Bearer abc"}}`, "", []string{"http.headers.authorization: cannot be set here: it would put a credential in the spec"}},
		{"method", "http", `{"url":"https://x/","method":"DELETE"}`, "", []string{`http.method: "DELETE" is not GET or POST`}},
		{"body with get", "http", `{"url":"https://x/","body":{"a":1}}`, "", []string{"http.body: is sent with POST only"}},
		{"query object", "http", `{"url":"https://x/","query":{"a":{"b":1}}}`, "", []string{"http.query.a: is an object"}},
		{"format", "http", `{"url":"https://x/","format":"xml"}`, "", []string{`http.format: "xml" is not a format`}},
		{"records with csv", "http", `{"url":"https://x/","format":"csv","records":"a"}`, "", []string{"http.records: applies to JSON responses"}},
		{"bad path", "http", `{"url":"https://x/","records":"a..b"}`, "", []string{`http.records: path "a..b" has an empty segment`}},
		{"pagination type", "http", `{"url":"https://x/","pagination":{"type":"pages"}}`, "", []string{`http.pagination.type: "pages" is not a pagination type`}},
		{"offset without limit", "http", `{"url":"https://x/","pagination":{"type":"offset"}}`, "", []string{"http.pagination.limit: is required for offset pagination"}},
		{"cursor without next", "http", `{"url":"https://x/","pagination":{"type":"cursor"}}`, "", []string{"http.pagination.next: is required"}},
		{"max pages", "http", `{"url":"https://x/","pagination":{"type":"link","max_pages":5000}}`, "", []string{"http.pagination.max_pages: 5000 is not between 1 and 1000"}},
		{"timeout", "http", `{"url":"https://x/","timeout":"1h"}`, "", []string{`http.timeout: "1h" is not between 1s and 5m0s`}},
		{"auth type", "http", `{"url":"https://x/","auth":{"type":"digest","secret":"s"}}`, "", []string{`http.auth.type: "digest" is not an authentication type`}},
		{"auth without secret", "http", `{"url":"https://x/","auth":{"type":"bearer"}}`, "", []string{"http.auth.secret: is required"}},
		{"auth secret name", "http", `{"url":"https://x/","auth":{"type":"bearer","secret":"Not A Name"}}`, "", []string{"http.auth.secret: must name a team secret"}},
		{"api key place", "http", `{"url":"https://x/","auth":{"type":"api_key","secret":"s"}}`, "", []string{`http.auth: an api_key goes in a "header"`}},
		{"auth extra field", "http", `{"url":"https://x/","auth":{"type":"bearer","secret":"s","username":"u"}}`, "", []string{"http.auth.username: does not apply to bearer authentication"}},
		{"oauth2", "http", `{"url":"https://x/","auth":{"type":"oauth2","secret":"s","token_url":"file:///x"}}`, "", []string{"http.auth.token_url: must be an http or https URL", "http.auth.client_id: is required"}},
		{"dedup", "http", `{"url":"https://x/","dedup":{"key":"record.id +","window":"1s"}}`, "", []string{`http.dedup.window: "1s" is not between 1m and 90d`, "http.dedup.key: unexpected token EOF (line 1, column"}},
		{"state without source", "http", `{"url":"https://x/"}`, `{"a":{}}`, []string{`state.a: needs "from"`}},
		{"state both", "http", `{"url":"https://x/"}`, `{"a":{"from":"x","response":"y"}}`, []string{`state.a: set either "from"`}},
		{"state keep", "http", `{"url":"https://x/"}`, `{"a":{"from":"x","keep":"min"}}`, []string{`state.a.keep: "min" is not "max" or "last"`}},
		{"state name", "http", `{"url":"https://x/"}`, `{"a-b":{"from":"x"}}`, []string{"state.a-b: a state variable's name"}},
		{"graphql empty", "graphql", `{}`, "", []string{"graphql.url: is required", "graphql.query: is required", "graphql.records: is required"}},
		{"graphql cursor variable", "graphql", `{"url":"https://x/","query":"{ a }","records":"a.nodes","pagination":{}}`, "", []string{"graphql.pagination.cursor: the query does not use $after"}},
		{"graphql variables", "graphql", `{"url":"https://x/","query":"{ a }","records":"a","variables":{"v":["{{ state.x }}"]}}`, "", []string{"graphql.variables.v[0]: refers to {{ state.x }}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, problems := tryBuild(t, tc.kind, tc.spec, tc.state)
			var got []string
			for _, p := range problems {
				got = append(got, p.Path+": "+p.Message)
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					if strings.HasPrefix(g, w) || strings.Contains(g, w) && strings.HasPrefix(g, strings.SplitN(w, ":", 2)[0]+":") {
						found = true
					}
				}
				if !found {
					t.Errorf("problems %q, want one like %q", got, w)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("problems %q, want %d", got, len(tc.want))
			}
		})
	}
}
