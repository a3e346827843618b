package source

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/tributary-dev/tributary/internal/mapping"
	"github.com/tributary-dev/tributary/internal/netguard"
)

// PaginationSpec says how an HTTP API hands out its pages:
//
//	{"type": "page", "param": "page", "start": 1, "limit": 100, "limit_param": "per_page"}
//	{"type": "offset", "param": "offset", "limit": 100, "limit_param": "limit"}
//	{"type": "cursor", "next": "meta.next_cursor", "param": "cursor"}
//	{"type": "cursor", "next": "links.next"}          (the value is the next page's URL)
//	{"type": "link"}                                  (RFC 8288 Link: <…>; rel="next")
//
// A poll reads at most MaxPages pages (default 10); the state carries it
// on from there at the next poll.
type PaginationSpec struct {
	// Type is page, offset, cursor or link.
	Type string `json:"type"`
	// Param is the query parameter of the page number ("page"), the
	// offset ("offset") or the cursor ("cursor"). For a cursor without a
	// param, the value at Next is the URL of the next page.
	Param string `json:"param,omitempty"`
	// Start is the first page number (default 1) or offset (default 0).
	Start *int64 `json:"start,omitempty"`
	// Limit is the page size asked for, in LimitParam ("limit" by default
	// for offset; page sends it only when LimitParam is set). A page with
	// fewer records is the last one. Required for offset.
	Limit      int64  `json:"limit,omitempty"`
	LimitParam string `json:"limit_param,omitempty"`
	// Next is the path of the next cursor (or next URL) in the response.
	Next string `json:"next,omitempty"`
	// MaxPages bounds the pages of one poll: 1 to 1000, default 10.
	MaxPages int `json:"max_pages,omitempty"`
}

// pager is a checked PaginationSpec.
type pager struct {
	typ        string
	param      string
	start      int64
	limit      int64
	limitParam string
	next       mapping.Path
}

// pagination checks a PaginationSpec at path; nil means one page.
func (b *Builder) pagination(path string, p *PaginationSpec) (*pager, int) {
	if p == nil {
		return nil, 1
	}
	pg := &pager{typ: p.Type, param: p.Param, limit: p.Limit, limitParam: p.LimitParam}
	maxPages := p.MaxPages
	switch {
	case maxPages == 0:
		maxPages = DefaultMaxPages
	case maxPages < 1 || maxPages > MaxPagesLimit:
		b.Problem(path+".max_pages", fmt.Sprintf("%d is not between 1 and %d", p.MaxPages, MaxPagesLimit))
	}
	if p.Limit < 0 {
		b.Problem(path+".limit", "must not be negative")
	}
	notFor := func(field string, set bool) {
		if set {
			b.Problem(path+"."+field, fmt.Sprintf("does not apply to %s pagination", p.Type))
		}
	}
	switch p.Type {
	case "page":
		pg.param = orDefault(p.Param, "page")
		pg.start = 1
		if p.Start != nil {
			pg.start = *p.Start
		}
		notFor("next", p.Next != "")
	case "offset":
		pg.param = orDefault(p.Param, "offset")
		pg.limitParam = orDefault(p.LimitParam, "limit")
		if p.Start != nil {
			pg.start = *p.Start
		}
		if p.Limit <= 0 {
			b.Problem(path+".limit", "is required for offset pagination: the page size, such as 100")
		}
		notFor("next", p.Next != "")
	case "cursor":
		if p.Next == "" {
			b.Problem(path+".next", `is required: the path of the next cursor in the response, such as "meta.next_cursor"`)
		} else {
			pg.next = b.path(path+".next", p.Next)
		}
		notFor("start", p.Start != nil)
		notFor("limit_param", p.LimitParam != "" && p.Limit == 0)
	case "link":
		for _, f := range []struct {
			name string
			set  bool
		}{{"param", p.Param != ""}, {"start", p.Start != nil}, {"next", p.Next != ""}} {
			notFor(f.name, f.set)
		}
	case "":
		b.Problem(path+".type", `is required: "page", "offset", "cursor" or "link"`)
	default:
		b.Problem(path+".type", fmt.Sprintf(`%q is not a pagination type: use "page", "offset", "cursor" or "link"`, p.Type))
	}
	return pg, maxPages
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// pageCursor walks the pages of one poll.
type pageCursor struct {
	p      *pager
	origin *url.URL // the first page's URL
	cur    *url.URL
	num    int64  // page number or offset of cur
	last   string // the last cursor, to stop a loop
}

func (p *pager) begin(first *url.URL) *pageCursor {
	c := &pageCursor{p: p, origin: first, cur: first}
	if p == nil {
		return c
	}
	switch p.typ {
	case "page", "offset":
		c.num = p.start
		c.cur = withParams(first, p.param, strconv.FormatInt(c.num, 10), p.limitParam, p.limit)
	case "cursor", "link":
		if p.limit > 0 && p.limitParam != "" {
			c.cur = withParams(first, "", "", p.limitParam, p.limit)
		}
	}
	return c
}

// withParams returns u with param=value and limitParam=limit set.
func withParams(u *url.URL, param, value, limitParam string, limit int64) *url.URL {
	out := *u
	q := out.Query()
	if param != "" {
		q.Set(param, value)
	}
	if limitParam != "" && limit > 0 {
		q.Set(limitParam, strconv.FormatInt(limit, 10))
	}
	out.RawQuery = q.Encode()
	return &out
}

// url is the URL of the current page.
func (c *pageCursor) url() *url.URL { return c.cur }

// advance moves to the next page after a response with n records and
// decoded body doc (nil for NDJSON and CSV); false means there is none.
func (c *pageCursor) advance(resp *response, doc any, n int) (bool, error) {
	p := c.p
	if p == nil {
		return false, nil
	}
	switch p.typ {
	case "page":
		if n == 0 || p.limit > 0 && int64(n) < p.limit {
			return false, nil
		}
		c.num++
		c.cur = withParams(c.origin, p.param, strconv.FormatInt(c.num, 10), p.limitParam, p.limit)
	case "offset":
		if n == 0 || int64(n) < p.limit {
			return false, nil
		}
		c.num += int64(n)
		c.cur = withParams(c.origin, p.param, strconv.FormatInt(c.num, 10), p.limitParam, p.limit)
	case "cursor":
		v, ok := p.next.Lookup(doc)
		if !ok || emptyValue(v) {
			return false, nil
		}
		next := textOf(v)
		if next == c.last {
			return false, nil // the API handed out the same cursor again
		}
		c.last = next
		if p.param != "" {
			c.cur = withParams(c.origin, p.param, next, p.limitParam, p.limit)
			return true, nil
		}
		u, err := c.sameOrigin(next, fmt.Sprintf("the next page URL at %q", p.next.String()))
		if err != nil {
			return false, err
		}
		c.cur = u
	case "link":
		next := nextLink(resp.header.Values("Link"))
		if next == "" {
			return false, nil
		}
		if next == c.last {
			return false, nil
		}
		c.last = next
		u, err := c.sameOrigin(next, "the Link rel=\"next\" URL")
		if err != nil {
			return false, err
		}
		c.cur = u
	}
	return true, nil
}

// sameOrigin resolves a next-page URL against the current one and
// refuses another origin: the request would carry the credentials there.
func (c *pageCursor) sameOrigin(ref, what string) (*url.URL, error) {
	u, err := c.cur.Parse(ref)
	if err != nil {
		return nil, errorf("%s is not a valid URL", what)
	}
	if !sameOrigin(u, c.origin) {
		return nil, errorf("%s (%s) leads to another origin than %s://%s; a poll only follows pages of the API it polls",
			what, netguard.RedactURL(u.String()), c.origin.Scheme, c.origin.Host)
	}
	return u, nil
}

// nextLink finds the target of rel="next" in Link header values (RFC
// 8288): <uri>; param=value; rel="next prev", …
func nextLink(values []string) string {
	for _, h := range values {
		for len(h) > 0 {
			h = strings.TrimLeft(h, " \t,")
			if !strings.HasPrefix(h, "<") {
				return ""
			}
			end := strings.IndexByte(h, '>')
			if end < 0 {
				return ""
			}
			target := h[1:end]
			h = h[end+1:]
			// Parameters up to the next link (a comma outside quotes).
			var params string
			inQuote := false
			i := 0
			for ; i < len(h); i++ {
				switch h[i] {
				case '"':
					inQuote = !inQuote
				case ',':
					if !inQuote {
						goto done
					}
				}
			}
		done:
			params, h = h[:i], h[i:]
			for _, p := range strings.Split(params, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}
