package specfile_test

import (
	"os"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/specfile"
)

const withAlerts = `name: orders
kind: webhook
---
name: too many rejects
kind: alert_rule
pipeline: orders
rejected_ratio: { window: 10m, above: 0.2 }
for: 5m
channels: [ops-hook]
---
alert_channels:
  - name: ops-hook
    webhook: { url: "https://hooks.example.com/x", signing_secret: ops-key }
  - name: ops-slack
    slack: { url_secret: slack-url }
alert_rules:
  - name: quiet
    no_data: { window: 15m }
`

func TestReadAlerts(t *testing.T) {
	t.Parallel()
	set, probs := specfile.ReadSet(compiler, "a.yaml", []byte(withAlerts))
	if probs != nil {
		t.Fatal(probs)
	}
	if len(set.Pipelines) != 1 || len(set.AlertRules) != 2 || len(set.AlertChannels) != 2 {
		t.Fatalf("set: %+v", set)
	}
	r := set.AlertRules[0]
	if r.Name != "too many rejects" || r.Pipeline() != "orders" || strings.Join(r.Channels(), ",") != "ops-hook" || r.LineOf("rejected_ratio") != 7 {
		t.Errorf("rule: %+v, line %d", r, r.LineOf("rejected_ratio"))
	}
	if strings.Contains(string(r.Spec), "kind") {
		t.Errorf("the rule's spec keeps kind: %s", r.Spec)
	}
	if got := strings.Join(set.AlertChannels[0].SecretRefs(), ","); got != "ops-key" {
		t.Errorf("secret refs = %q", got)
	}
	for _, a := range append(set.AlertRules, set.AlertChannels...) {
		y, err := specfile.EncodeAlert(a.Kind, a.Spec)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(y), "name: ") || !strings.Contains(string(y), "\nkind: "+a.Kind+"\n") {
			t.Errorf("encoded %s does not start with name and kind:\n%s", a.Name, y)
		}
		again, probs := specfile.ReadSet(compiler, "again.yaml", y)
		all := append(again.AlertRules, again.AlertChannels...)
		if probs != nil || len(all) != 1 || !specfile.Equal(all[0].Spec, a.Spec) {
			t.Fatalf("%s does not round-trip:\n%s\n%v", a.Name, y, probs)
		}
	}
	named, err := specfile.MapRulePipeline(r.Spec, func(string) string { return "0190a8e2-7c4b-7d3e-9f00-123456789abc" })
	if err != nil || !strings.Contains(string(named), `"pipeline":"0190a8e2-7c4b-7d3e-9f00-123456789abc"`) {
		t.Fatalf("mapped: %s, %v", named, err)
	}
	if got := specfile.AlertFileName(specfile.KindAlertChannel, "Ops Hook"); got != "alert-channel-ops-hook.yaml" {
		t.Errorf("file name = %q", got)
	}
}

func TestAlertProblems(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, doc, want string }{
		{"inline signing key", "name: hook\nkind: alert_channel\nwebhook:\n  url: https://h.example.com\n  signing_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
			"bad.yaml:5: webhook.signing_secret: "},
		{"inline lower-case key", "name: hook\nkind: alert_channel\nwebhook:\n  url: https://h.example.com\n  signing_secret: whsec_abc\n",
			"create a secret"},
		{"inline slack url", "alert_channels:\n  - name: s\n    slack:\n      url: https://hooks.slack.com/services/T/B/x\n",
			"bad.yaml:4: alert_channels[0].slack.url: a Slack incoming-webhook URL is a credential"},
		{"slack url in the secret field", "name: s\nkind: alert_channel\nslack: { url_secret: \"https://hooks.slack.com/services/T/B/x\" }\n",
			"create a secret"},
		{"bad rule", "name: r\nkind: alert_rule\nthreshold: { field: t, op: '>', value: high, window: 5m }\n",
			"bad.yaml:3: threshold.value: must be a number"},
		{"duplicate names", "alert_rules:\n  - { name: r, failing: {} }\n  - { name: r, failing: {} }\n", "names must be unique"},
		{"list with more", "alert_rules: []\nother: 1\n", "must have nothing else"},
		{"wrong kind in a list", "alert_rules:\n  - { name: r, kind: alert_channel, inapp: {} }\n", "must be alert_rule"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var err error
			set, probs := specfile.ReadSet(compiler, "bad.yaml", []byte(c.doc))
			if probs != nil {
				err = probs
			}
			if c.name == "duplicate names" {
				// Names are checked across files by LoadSet.
				dir := t.TempDir()
				writeFileT(t, dir+"/bad.yaml", c.doc)
				_, err = specfile.LoadSet(compiler, dir)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("problems %v (set %+v) do not show %q", err, set, c.want)
			}
		})
	}
}

func writeFileT(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
