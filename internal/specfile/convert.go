package specfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// converter writes a YAML node as JSON, keeping the order of keys,
// recording the line of every path and refusing secret values written
// inline.
type converter struct {
	file     string
	prefix   string
	lines    map[string]int
	problems Problems
}

func (c *converter) fail(path string, node ast.Node, msg string) {
	c.problems = append(c.problems, Problem{File: c.file, Line: node.GetToken().Position.Line, Path: c.prefix + path, Message: msg})
}

// value writes node, found at path under key, as JSON to buf.
func (c *converter) value(buf *bytes.Buffer, node ast.Node, path, key string) {
	node = unwrap(node)
	if node == nil {
		buf.WriteString("null")
		return
	}
	if path != "" {
		if _, ok := c.lines[path]; !ok {
			c.lines[path] = node.GetToken().Position.Line
		}
	}
	if m, ok := asMapping(node); ok {
		c.checkSecretObject(path, key, node, m)
		buf.WriteByte('{')
		for i, e := range m.entries {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, ok := scalarKey(e.Key)
			if !ok {
				c.fail(path, e.Key, "a key must be a plain string")
				k = e.Key.String()
			}
			writeString(buf, k)
			buf.WriteByte(':')
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			c.lines[sub] = e.Key.GetToken().Position.Line
			c.value(buf, e.Value, sub, k)
		}
		buf.WriteByte('}')
		return
	}
	switch n := node.(type) {
	case *ast.SequenceNode:
		buf.WriteByte('[')
		for i, v := range n.Values {
			if i > 0 {
				buf.WriteByte(',')
			}
			c.value(buf, v, fmt.Sprintf("%s[%d]", path, i), key)
		}
		buf.WriteByte(']')
	case *ast.NullNode:
		buf.WriteString("null")
	case *ast.BoolNode:
		buf.WriteString(strconv.FormatBool(n.Value))
	case *ast.IntegerNode:
		if t := n.GetToken().Value; json.Valid([]byte(t)) {
			buf.WriteString(t)
		} else {
			fmt.Fprint(buf, n.Value)
		}
	case *ast.FloatNode:
		if t := n.GetToken().Value; json.Valid([]byte(t)) {
			buf.WriteString(t)
		} else {
			buf.WriteString(strconv.FormatFloat(n.Value, 'g', -1, 64))
		}
	case *ast.StringNode:
		c.checkString(path, key, n, n.Value)
		writeString(buf, n.Value)
	case *ast.LiteralNode:
		s := ""
		if n.Value != nil {
			s = n.Value.Value
		}
		c.checkString(path, key, n, s)
		writeString(buf, s)
	case *ast.InfinityNode, *ast.NanNode:
		c.fail(path, node, "infinity and NaN are not JSON numbers")
		buf.WriteString("null")
	case *ast.AliasNode:
		c.fail(path, node, "YAML aliases are not supported; write the value out")
		buf.WriteString("null")
	default:
		c.fail(path, node, fmt.Sprintf("unsupported YAML node %s", node.Type()))
		buf.WriteString("null")
	}
}

// secretName is what a team secret's name looks like.
var secretName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// isSecretRef reports whether key names a team secret.
func isSecretRef(key string) bool {
	k := strings.ToLower(key)
	return k == "secret" || strings.HasSuffix(k, "_secret")
}

// credentialKeys are keys that would hold a credential itself.
var credentialKeys = map[string]bool{
	"password": true, "passwd": true, "token": true, "api_key": true, "apikey": true, "access_token": true,
	"client_secret_value": true, "secret_value": true, "private_key": true, "secret_access_key": true, "dsn": true,
}

// credentialHeaders are header names whose value is a credential.
var credentialHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "x-api-key": true, "api-key": true, "x-auth-token": true,
}

const createSecret = "create a secret with `tributary` or the API (POST /api/v1/secrets) and write its name here"

// checkSecretObject refuses a secret reference written as an object, such
// as secret: {value: …}.
func (c *converter) checkSecretObject(path, key string, node ast.Node, m mapping) {
	if isSecretRef(key) {
		c.fail(path, node, "names a team secret and must be its name, not a value: "+createSecret)
		return
	}
	if _, ok := m.get("value"); ok && strings.Contains(strings.ToLower(path), "secret") {
		c.fail(path+".value", node, "secret values never go in files: "+createSecret)
	}
}

// checkString refuses credentials written inline.
func (c *converter) checkString(path, key string, node ast.Node, s string) {
	lk := strings.ToLower(key)
	parent := path
	if i := strings.LastIndexByte(parent, '.'); i >= 0 {
		parent = parent[:i]
	}
	switch {
	case isSecretRef(key) && !strings.HasPrefix(path, "mapping") && s != "" && !secretName.MatchString(s):
		c.fail(path, node, "looks like a secret value written inline, not a secret's name (a-z, 0-9, _ and -): "+createSecret)
	case credentialKeys[lk] && !strings.HasPrefix(path, "mapping") && s != "":
		c.fail(path, node, "holds a credential inline: "+createSecret+" (see the kind's settings for the field that names it)")
	case strings.HasSuffix(parent, "headers") && credentialHeaders[lk]:
		c.fail(path, node, "a credential header is written inline: "+createSecret+" and use the kind's auth settings")
	case lk == "url" || strings.HasSuffix(lk, "_url"):
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if _, hasPW := u.User.Password(); hasPW {
				c.fail(path, node, "the URL carries a password: "+createSecret+" and use the kind's auth settings")
			}
		}
	}
}

// mapping is a YAML mapping's entries in order.
type mapping struct{ entries []*ast.MappingValueNode }

func (m mapping) get(key string) (ast.Node, bool) {
	for _, e := range m.entries {
		if k, ok := scalarKey(e.Key); ok && k == key {
			return e.Value, true
		}
	}
	return nil, false
}

// asMapping returns node's entries when it is a mapping; a mapping of one
// entry may come as a lone MappingValueNode.
func asMapping(node ast.Node) (mapping, bool) {
	switch n := node.(type) {
	case *ast.MappingNode:
		return mapping{n.Values}, true
	case *ast.MappingValueNode:
		return mapping{[]*ast.MappingValueNode{n}}, true
	}
	return mapping{}, false
}

// unwrap skips tags, anchors and document nodes.
func unwrap(node ast.Node) ast.Node {
	for {
		switch n := node.(type) {
		case *ast.TagNode:
			node = n.Value
		case *ast.AnchorNode:
			node = n.Value
		case *ast.DocumentNode:
			node = n.Body
		default:
			return node
		}
	}
}

// scalarKey returns a mapping key as a string.
func scalarKey(k ast.Node) (string, bool) {
	switch n := unwrap(k).(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.MappingKeyNode:
		return scalarKey(n.Value)
	case ast.ScalarNode:
		return fmt.Sprint(n.GetValue()), true
	}
	return "", false
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // the newline Encode adds
}
