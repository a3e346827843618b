package source_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"

	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/source"
)

// A source is built once from a spec (as the pipeline package decodes it)
// and polled with the state the previous poll left.
func Example() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Two pages of observations newer than ?since=.
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("cursor") == "" {
			fmt.Fprint(w, `{"data":[{"id":1,"at":"2024-05-01T10:00:00Z"}],"next":"p2"}`)
			return
		}
		fmt.Fprint(w, `{"data":[{"id":2,"at":"2024-05-01T10:05:00Z"}],"next":null}`)
	}))
	defer api.Close()

	spec := &source.HTTPSpec{
		URL:        api.URL + "/observations",
		Query:      map[string]any{"since": "{{ state.since }}"},
		Records:    "data",
		Pagination: &source.PaginationSpec{Type: "cursor", Next: "next", Param: "cursor"},
	}
	state := source.StateSpec{"since": {From: "at", Initial: "2024-01-01T00:00:00Z"}}
	src, problems := source.Builtin().Build("http", spec, state)
	if len(problems) > 0 {
		fmt.Println(problems)
		return
	}
	// Tests allow loopback; production keeps the guard's defaults.
	guard := netguard.New(netguard.Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	env := &source.Env{Client: source.NewClient(guard)}
	res, err := src.Poll(context.Background(), env, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	next, _ := json.Marshal(res.State)
	fmt.Println(len(res.Records), "records in", res.Pages, "pages; next state:", string(next))

	// A spec with problems says where they are.
	_, problems = source.Builtin().Build("http", &source.HTTPSpec{URL: "ftp://example.com", Records: "data..items"}, nil)
	var lines []string
	for _, p := range problems {
		lines = append(lines, p.Path+": "+p.Message)
	}
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// 2 records in 2 pages; next state: {"since":"2024-05-01T10:05:00Z"}
	// http.url: must be an http or https URL
	// http.records: path "data..items" has an empty segment
}
