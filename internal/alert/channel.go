package alert

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
)

// Channel kinds.
const (
	KindWebhook = "webhook" // a signed HTTP POST (Standard Webhooks)
	KindSlack   = "slack"   // a Slack-compatible incoming webhook
	KindEmail   = "email"   // email over the server's SMTP settings
	KindInApp   = "inapp"   // the notifications list and badge of the UI
)

// Kinds lists the channel kinds.
var Kinds = []string{KindWebhook, KindSlack, KindEmail, KindInApp}

// Webhook is a webhook channel's settings. SigningSecret names a team
// secret holding a Standard Webhooks key (whsec_…); without it the
// requests are not signed.
type Webhook struct {
	URL           string `json:"url"`
	SigningSecret string `json:"signing_secret,omitempty"`
}

// Slack is a Slack channel's settings: the incoming-webhook URL is a
// credential, so it lives in a team secret named URLSecret.
type Slack struct {
	URLSecret string `json:"url_secret"`
}

// Email is an email channel's settings.
type Email struct {
	To []string `json:"to"`
}

// Channel is a decoded, checked channel document: its name and exactly
// one kind's settings.
type Channel struct {
	Name    string    `json:"name"`
	Webhook *Webhook  `json:"webhook,omitempty"`
	Slack   *Slack    `json:"slack,omitempty"`
	Email   *Email    `json:"email,omitempty"`
	InApp   *struct{} `json:"inapp,omitempty"`
}

// Kind returns the channel's kind.
func (c *Channel) Kind() string {
	switch {
	case c.Webhook != nil:
		return KindWebhook
	case c.Slack != nil:
		return KindSlack
	case c.Email != nil:
		return KindEmail
	}
	return KindInApp
}

// Secrets lists the team secrets the channel uses, with their paths.
func (c *Channel) Secrets() map[string]string {
	out := map[string]string{}
	if c.Webhook != nil && c.Webhook.SigningSecret != "" {
		out["webhook.signing_secret"] = c.Webhook.SigningSecret
	}
	if c.Slack != nil {
		out["slack.url_secret"] = c.Slack.URLSecret
	}
	return out
}

var channelNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ParseChannel decodes a channel document strictly, with every problem
// and its path in a *SpecError:
//
//	{"name": "ops-hook", "webhook": {"url": "https://hooks.example.com/x", "signing_secret": "ops-key"}}
//	{"name": "ops-slack", "slack": {"url_secret": "slack-url"}}
//	{"name": "oncall", "email": {"to": ["oncall@example.com"]}}
//	{"name": "ui", "inapp": {}}
func ParseChannel(doc []byte) (*Channel, error) {
	var ps problems
	c := &Channel{}
	var kinds []string
	ok := object(doc, "", &ps, map[string]func(json.RawMessage, string){
		"name": strictStr(&c.Name, &ps),
		"webhook": func(raw json.RawMessage, path string) {
			kinds = append(kinds, KindWebhook)
			c.Webhook = &Webhook{}
			object(raw, path, &ps, map[string]func(json.RawMessage, string){
				"url":            strictStr(&c.Webhook.URL, &ps),
				"signing_secret": strictStr(&c.Webhook.SigningSecret, &ps),
			})
			if !strings.HasPrefix(c.Webhook.URL, "https://") && !strings.HasPrefix(c.Webhook.URL, "http://") {
				ps.add(join(path, "url"), "must be an http or https URL")
			}
		},
		"slack": func(raw json.RawMessage, path string) {
			kinds = append(kinds, KindSlack)
			c.Slack = &Slack{}
			object(raw, path, &ps, map[string]func(json.RawMessage, string){
				"url_secret": strictStr(&c.Slack.URLSecret, &ps),
			})
			if c.Slack.URLSecret == "" {
				ps.add(join(path, "url_secret"), "is required: the team secret holding the incoming-webhook URL")
			}
		},
		"email": func(raw json.RawMessage, path string) {
			kinds = append(kinds, KindEmail)
			c.Email = &Email{}
			object(raw, path, &ps, map[string]func(json.RawMessage, string){
				"to": typed(&c.Email.To, "an array of email addresses", &ps),
			})
			if len(c.Email.To) == 0 && !hasProblemUnder(ps, join(path, "to")) {
				ps.add(join(path, "to"), "needs at least one address")
			}
			for i, a := range c.Email.To {
				if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "\r\n") {
					ps.add(fmt.Sprintf("%s.to[%d]", path, i), "is not an email address")
				}
			}
		},
		"inapp": func(raw json.RawMessage, path string) {
			kinds = append(kinds, KindInApp)
			c.InApp = &struct{}{}
			object(raw, path, &ps, map[string]func(json.RawMessage, string){})
		},
	})
	if !ok {
		return nil, ps.err()
	}
	if !channelNameRE.MatchString(c.Name) && !hasProblemUnder(ps, "name") {
		ps.add("name", "must be 1 to 64 characters of a-z, 0-9, _ and -")
	}
	switch len(kinds) {
	case 0:
		ps.add("", "a channel needs one kind: %s", strings.Join(Kinds, ", "))
	case 1:
	default:
		slices.Sort(kinds)
		ps.add(kinds[1], "a channel has one kind; this one comes with %s", kinds[0])
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}
