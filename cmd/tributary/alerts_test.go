package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/apptest"
)

const alertsYAML = `name: sensors
kind: webhook
mapping:
  fields:
    temp: { type: number }
---
name: ops-hook
kind: alert_channel
webhook:
  url: https://hooks.example.com/tributary
  signing_secret: ops-key
---
alert_channels:
  - name: ui
    inapp: {}
alert_rules:
  - name: too hot
    pipeline: sensors
    threshold: { field: temp, aggregate: avg, op: ">", value: 30, window: 5m }
    for: 2m
    severity: critical
    channels: [ops-hook, ui]
  - name: anything failing
    failing: {}
    channels: [ui]
`

func alertNames(t *testing.T, c *client.Client) string {
	t.Helper()
	rs, err := c.ListAlertRules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.ListAlertChannels(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, "rule:"+r.Name)
	}
	for _, ch := range cs {
		names = append(names, "channel:"+ch.Name)
	}
	return strings.Join(names, ",")
}

// TestApplyExportAlerts: alert rules and channels in the pipeline files;
// apply creates them (channels before the rules naming them, rules after
// their pipeline), apply again and apply after export change nothing, an
// edit is a diff, and prune deletes them; on both backends.
func TestApplyExportAlerts(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			srv := apptest.Start(t, backend)
			env := remoteEnv(t, srv)
			c := clientOf(t, srv)
			if _, err := c.CreateSecret(t.Context(), "ops-key", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "sensors.yaml"), alertsYAML)

			r := runCLI(t, env, "", "apply", "-f", dir, "--dry-run").wantOK(t)
			for _, w := range []string{"+++ alert rule too hot (", "+kind: alert_rule", "+++ alert channel ops-hook (",
				"alert channels: 2 to create, 0 to update, 0 unchanged; alert rules: 2 to create, 0 to update, 0 unchanged (dry run"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("dry run does not show %q:\n%s", w, r.stdout)
				}
			}
			r = runCLI(t, env, "", "apply", "-f", dir).wantOK(t)
			for _, w := range []string{"created pipeline sensors", "created alert channel ops-hook", "created alert rule too hot"} {
				if !strings.Contains(r.stdout, w) {
					t.Fatalf("apply does not say %q:\n%s", w, r.stdout)
				}
			}
			if got := alertNames(t, c); got != "rule:anything failing,rule:too hot,channel:ops-hook,channel:ui" {
				t.Fatalf("on the server: %s", got)
			}

			unchanged := func(what string, r result) {
				t.Helper()
				if strings.Contains(r.stdout, "---") || !strings.Contains(r.stdout,
					"alert channels: 0 to create, 0 to update, 2 unchanged; alert rules: 0 to create, 0 to update, 2 unchanged") {
					t.Errorf("%s changed something:\n%s", what, r.stdout)
				}
			}
			unchanged("apply again", runCLI(t, env, "", "apply", "-f", dir).wantOK(t))

			out := t.TempDir()
			runCLI(t, env, "", "export", "-o", out).wantOK(t)
			exported, err := os.ReadFile(filepath.Join(out, "alert-rule-too-hot.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(exported), "name: too hot\nkind: alert_rule\n") || !strings.Contains(string(exported), "pipeline: sensors") {
				t.Errorf("exported alert-rule-too-hot.yaml:\n%s", exported)
			}
			hook, err := os.ReadFile(filepath.Join(out, "alert-channel-ops-hook.yaml"))
			if err != nil || !strings.Contains(string(hook), "signing_secret: ops-key") || strings.Contains(string(hook), "whsec_") {
				t.Errorf("exported alert-channel-ops-hook.yaml (%v):\n%s", err, hook)
			}
			unchanged("apply after export", runCLI(t, env, "", "apply", "-f", out).wantOK(t))

			writeFile(t, filepath.Join(dir, "sensors.yaml"), strings.Replace(alertsYAML, "value: 30", "value: 35", 1))
			r = runCLI(t, env, "", "apply", "-f", dir).wantOK(t)
			if !strings.Contains(r.stdout, "-  value: 30\n+  value: 35\n") || !strings.Contains(r.stdout, "updated alert rule too hot") {
				t.Errorf("update:\n%s", r.stdout)
			}

			// --prune covers rules and channels.
			writeFile(t, filepath.Join(dir, "sensors.yaml"), "name: sensors\nkind: webhook\n")
			r = runCLI(t, env, "n\n", "apply", "-f", dir, "--prune")
			r.wantOneLine(t, "not confirmed")
			if !strings.Contains(r.stderr, "2 alert channels (ops-hook, ui), and 2 alert rules (anything failing, too hot)?") {
				t.Errorf("the question does not name the rules and channels:\n%s", r.stderr)
			}
			if got := alertNames(t, c); !strings.Contains(got, "rule:too hot") {
				t.Errorf("an unconfirmed prune left %q", got)
			}
			r = runCLI(t, env, "", "apply", "-f", dir, "--prune", "--yes").wantOK(t)
			if got := alertNames(t, c); got != "" || !strings.Contains(r.stdout, "deleted alert rule too hot") || !strings.Contains(r.stdout, "deleted alert channel ui") {
				t.Errorf("prune left %q:\n%s", got, r.stdout)
			}
		})
	}
}

// TestApplyRefusesBadAlerts: an inline secret in a channel, a rule naming
// a pipeline or channel that will not exist, a missing secret, and a rule
// the server refuses are listed with file and line; nothing is applied
// when the files are invalid.
func TestApplyRefusesBadAlerts(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	env := remoteEnv(t, srv)
	c := clientOf(t, srv)
	dir := t.TempDir()
	file := filepath.Join(dir, "a.yaml")
	writeFile(t, file, "name: hook\nkind: alert_channel\nwebhook:\n  url: https://hooks.example.com/x\n  signing_secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n")
	r := runCLI(t, env, "", "apply", "-f", dir)
	r.wantOneLine(t, "1 problem", "nothing was applied")
	if !strings.Contains(r.stderr, file+":5: webhook.signing_secret:") || !strings.Contains(r.stderr, "create a secret") {
		t.Errorf("the inline secret is not reported at its line:\n%s", r.stderr)
	}

	writeFile(t, file, `name: sensors
kind: webhook
---
alert_rules:
  - name: quiet
    pipeline: nowhere
    no_data: { window: 15m }
    channels: [nobody]
---
name: hook
kind: alert_channel
webhook: { url: "https://hooks.example.com/x", signing_secret: missing-key }
`)
	r = runCLI(t, env, "", "apply", "-f", dir)
	r.wantOneLine(t, "3 problems", "nothing was applied")
	for _, w := range []string{
		file + ":6: alert_rules[0].pipeline: there is no pipeline named \"nowhere\"",
		file + ":8: alert_rules[0].channels[0]: there is no alert channel named \"nobody\"",
		file + ":10: the team has no secret named \"missing-key\"",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("problems do not show %q:\n%s", w, r.stderr)
		}
	}
	if got := pipelineNames(t, c); got != "" {
		t.Errorf("an invalid apply created %s", got)
	}
	if got := alertNames(t, c); got != "" {
		t.Errorf("an invalid apply created %s", got)
	}
}
