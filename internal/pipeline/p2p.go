package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// P2PSource is the source of a p2p pipeline (source.pipeline): the
// upstream pipeline whose committed records it reads.
//
//	kind: p2p
//	source:
//	  pipeline: { upstream: weather-berlin }   # a name or an id
//
// The upstream must be a pipeline of the same team, and the chain of
// upstreams must not lead back to the pipeline; both are checked when
// the pipeline is saved, against the team's pipelines. The reference is
// resolved to the upstream's id at save time: renaming the upstream later
// does not break the link, and saving the p2p pipeline again resolves the
// name anew.
type P2PSource struct {
	// Upstream names the upstream pipeline, by id or by name.
	Upstream string `json:"upstream"`
}

func (c *Compiled) compileP2P(raw json.RawMessage, ps *problems) {
	if raw == nil || !isObject(raw) {
		return // reported by compileSource
	}
	var src P2PSource
	if !decodeStrict(raw, &src, "source.pipeline", ps) {
		return
	}
	const path = "source.pipeline.upstream"
	switch up := src.Upstream; {
	case up == "":
		ps.add(path, "is required: the name or id of the pipeline to read from")
	case !utf8.ValidString(up):
		ps.add(path, "is not valid UTF-8")
	case utf8.RuneCountInString(up) > MaxNameLength:
		ps.add(path, fmt.Sprintf("has more than %d characters: no pipeline has such a name", MaxNameLength))
	case strings.TrimSpace(up) != up || strings.ContainsFunc(up, unicode.IsControl):
		ps.add(path, "starts or ends with a space or holds a control character: no pipeline has such a name")
	default:
		c.Upstream = up
	}
}
