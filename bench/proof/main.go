// Command proof runs the suite that tries to break Tributary's promises —
// crashes, abuse, isolation, SSRF, fuzzing and secrets — with the long
// settings, and writes the report (docs/proof.md) from the results, one
// row per promise and backend. It is `make proof`; CI runs the fast parts
// of the same tests through `make test`.
//
// Each scenario is a `go test -json` run of existing tests. Tests that
// measure something log a line "PROOF {json}" (see cmd/tributary's
// proofReport), which becomes the row; for the others the row counts the
// tests that ran and failed, and takes its figures from log lines that
// match the scenario's pattern.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scenario is one `go test` run of the suite.
type scenario struct {
	promise string
	pkgs    []string
	run     string
	env     []string
	// figures picks log lines whose text becomes the row's figures.
	figures *regexp.Regexp
	// fuzz, when set, fuzzes this target instead of running tests.
	fuzz string
}

// row is one line of the report.
type row struct {
	Promise  string         `json:"promise"`
	Backend  string         `json:"backend,omitempty"`
	Runs     int            `json:"runs"`
	Failed   bool           `json:"failed"`
	Figures  map[string]any `json:"figures"`
	failures int
	text     []string
	took     time.Duration
}

func scenarios(fuzztime string) []scenario {
	s := []scenario{
		{promise: "crash: webhook ingest, acknowledged records survive kill -9", pkgs: []string{"./cmd/tributary"},
			run: "^TestAcknowledgedRecordsSurviveKill9$", env: []string{"TRIBUTARY_PROOF_KILLS=20", "TRIBUTARY_PROOF_RECORDS=100000"}},
		{promise: "crash: sink delivery, every committed record delivered after kill -9", pkgs: []string{"./cmd/tributary"},
			run: "^TestDeliveriesSurviveKill9$", env: []string{"TRIBUTARY_PROOF_KILLS=20"}},
		{promise: "crash: polling a numbered API, no gap and no duplicate after kill -9", pkgs: []string{"./cmd/tributary"},
			run: "^TestPollingSurvivesKill9$", env: []string{"TRIBUTARY_PROOF_KILLS=20"}},
		{promise: "crash: uploads fully processed after kill -9, never half-stored", pkgs: []string{"./cmd/tributary"},
			run: "^TestUploadsSurviveKill9$", env: []string{"TRIBUTARY_PROOF_KILLS=20", "TRIBUTARY_PROOF_UPLOAD_ROWS=100000"}},
		{promise: "dependency faults: PostgreSQL connections cut and delayed through a TCP proxy", pkgs: []string{"./cmd/tributary"},
			run: "^TestDependencyFaults$", env: []string{"TRIBUTARY_PROOF_FAULT_CYCLES=20"}},
		{promise: "dependency faults: PostgreSQL stopped (fast and immediate) and restarted mid-ingest", pkgs: []string{"./cmd/tributary"},
			run: "^TestPostgresRestart$", env: []string{"TRIBUTARY_PROOF_PG_RESTARTS=10"}},
		{promise: "abuse: webhook amplification (gzip and array bombs, record caps) with bounded memory", pkgs: []string{"./internal/ingest", "./internal/httpapi"},
			run: "^(TestAccept.*Bomb.*|TestHookAmplification)$", figures: regexp.MustCompile(`MiB|records`)},
		{promise: "abuse: expression cost refused at save, deterministic per-evaluation budget", pkgs: []string{"./internal/mapping"},
			run: "^(TestStaticCostIsRefusedAtCompile|TestSandboxBudget.*)$"},
		{promise: "abuse: awkward JSON values reject just their record, on both backends", pkgs: []string{"./internal/engine"},
			run: "^TestAwkwardValuesRejectJustTheirRecord$"},
		// One row per flood and backend, "abuse: another team's p99 under …".
		{promise: "abuse: another team's p99 under", pkgs: []string{"./internal/ingest"},
			run: "^TestFairShareLatency$", env: []string{"TRIBUTARY_MEASURE_FAIRNESS=1"}, figures: regexp.MustCompile(`p99`)},
		{promise: "abuse: 10,000 live-stream connect/disconnect cycles leak nothing", pkgs: []string{"./internal/httpapi"},
			run: "^TestStreamCyclesLeakNothing$", env: []string{"TRIBUTARY_PROOF_STREAM_CYCLES=10000"}, figures: regexp.MustCompile(`goroutines`)},
		{promise: "isolation: every REST route with another team's, a viewer's and a removed member's credentials", pkgs: []string{"./internal/app"},
			run: "^(TestTenantIsolation.*|TestMetricsNeedToken)$"},
		{promise: "isolation: every GraphQL operation across teams and roles", pkgs: []string{"./internal/graphql"}, run: "^TestMatrix$"},
		{promise: "isolation: records, streams and dashboards of other teams", pkgs: []string{"./internal/httpapi", "./internal/orchestrator"},
			run: "^(TestIsolation|TestDashboardIsolation|TestOtherTeamsPipelineIsNotFound)$"},
		{promise: "SSRF: address forms, DNS answers, redirects and schemes make 0 connections", pkgs: []string{"./internal/netguard"}, run: "."},
		{promise: "SSRF: sources, OAuth2 token URLs, pagination links and sinks", pkgs: []string{"./internal/source", "./internal/sink"},
			run: "^(TestSSRF|TestHTTPForbiddenAddress|TestPaginationRefusesOtherOrigins)$"},
		{promise: "secrets: canaries in every kind of config, scanned in a database dump, logs, responses and metrics", pkgs: []string{"./cmd/tributary"},
			run: "^TestSecretsHygiene$"},
		{promise: "secrets: canaries never in responses, errors or logs of the API, sources and sinks", pkgs: []string{"./internal/httpapi", "./internal/source", "./internal/sink", "./internal/vault"},
			run: "^(TestSecretCanary|TestSecretsNeverInErrors|TestHTTPSecrets|TestSecretNeverFormatsItsKey)$"},
	}
	for _, t := range []struct{ pkg, name string }{
		{"./internal/ingest", "FuzzDecodeBody"}, {"./internal/signature", "FuzzVerifyParts"},
		{"./internal/mapping", "FuzzCompileApply"}, {"./internal/schema", "FuzzCompileValidate"},
		{"./internal/source", "FuzzDecodeCSV"}, {"./internal/source/upload", "FuzzReaders"},
		{"./internal/netguard", "FuzzCheckURL"}, {"./internal/engine", "FuzzEncode"},
		{"./internal/jsonvalue", "FuzzParse"},
	} {
		s = append(s, scenario{promise: "fuzzing: " + t.name + " (" + fuzztime + ")", pkgs: []string{t.pkg}, fuzz: t.name,
			figures: regexp.MustCompile(`execs`)})
	}
	return s
}

// fuzzLine is the last progress line of `go test -fuzz`. Its "(n/sec)"
// is the rate over the last few seconds only, often 0 at the end: the
// report divides the executions by the time elapsed instead.
var fuzzLine = regexp.MustCompile(`elapsed: (\S+), execs: (\d+) .*new interesting: (\d+)`)

// fuzzFigures rewrites the last progress line of `go test -fuzz` into the
// row's figures, with the executions per second over the whole run.
func fuzzFigures(line string) string {
	m := fuzzLine.FindStringSubmatch(line)
	if m == nil {
		return line
	}
	out := "elapsed " + m[1] + ", " + m[2] + " executions"
	elapsed, err1 := time.ParseDuration(m[1])
	execs, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 == nil && err2 == nil && elapsed >= time.Second {
		out += fmt.Sprintf(" (%d/sec)", int64(float64(execs)/elapsed.Seconds()))
	}
	return out + ", " + m[3] + " new interesting inputs"
}

// event is one line of `go test -json`.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func runScenario(sc scenario, fuzztime string) []*row {
	start := time.Now()
	args := []string{"test", "-json", "-count=1", "-timeout", "60m"}
	if sc.fuzz != "" {
		args = append(args, "-run", "^$", "-fuzz", "^"+sc.fuzz+"$", "-fuzztime", fuzztime)
	} else {
		args = append(args, "-run", sc.run)
	}
	args = append(args, sc.pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), sc.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output()

	base := &row{Promise: sc.promise, Figures: map[string]any{}}
	var proofRows []*row
	sc2 := bufio.NewScanner(bytes.NewReader(out))
	sc2.Buffer(make([]byte, 1<<20), 16<<20)
	failedPkg := false
	var diag []string
	for sc2.Scan() {
		var ev event
		if json.Unmarshal(sc2.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case ev.Action == "pass" && ev.Test != "" && !strings.Contains(ev.Test, "/"):
			base.Runs++
		case ev.Action == "fail" && ev.Test != "" && !strings.Contains(ev.Test, "/"):
			base.Runs++
			base.failures++
		case ev.Action == "fail" && ev.Test == "":
			failedPkg = true
		case ev.Action == "output":
			line := strings.TrimSpace(ev.Output)
			if strings.Contains(line, "_test.go:") && !strings.Contains(line, "PROOF {") && len(diag) < 40 {
				diag = append(diag, line)
			}
			if i := strings.Index(line, "PROOF {"); i >= 0 {
				r := &row{}
				if json.Unmarshal([]byte(line[i+len("PROOF "):]), r) == nil {
					if r.Failed {
						r.failures = 1
					}
					proofRows = append(proofRows, r)
				}
				continue
			}
			if sc.figures != nil && sc.figures.MatchString(line) && !strings.Contains(line, `"msg"`) {
				if _, after, ok := strings.Cut(line, ".go:"); ok {
					if _, msg, ok := strings.Cut(after, ": "); ok {
						line = msg
					}
				}
				if len(line) < 200 {
					base.text = append(base.text, line)
				}
			}
		}
	}
	if sc.fuzz != "" {
		base.Runs = 1
		if failedPkg {
			base.failures = 1
		}
		if n := len(base.text); n > 0 {
			base.text = []string{fuzzFigures(base.text[n-1])}
		}
	} else if failedPkg && base.failures == 0 {
		base.failures = 1 // a build failure or a crash outside any test
	}
	if base.Runs == 0 && base.failures == 0 {
		base.failures = 1
		base.text = append(base.text, "no test ran: "+strings.TrimSpace(lastLines(stderr.String(), 3)))
	}
	base.took = time.Since(start)
	if base.failures > 0 {
		// What the tests said, to tell why (the report keeps only figures).
		for _, l := range diag {
			fmt.Fprintln(os.Stderr, "  ", l)
		}
	}
	if len(proofRows) > 0 {
		for _, r := range proofRows {
			r.took = base.took
			if base.failures > 0 && !r.Failed {
				r.Failed, r.failures = true, 1
			}
		}
		return proofRows
	}
	base.Failed = base.failures > 0
	return []*row{base}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " ")
}

func figures(r *row) string {
	var parts []string
	keys := make([]string, 0, len(r.Figures))
	for k := range r.Figures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %v", strings.ReplaceAll(k, "_", " "), r.Figures[k]))
	}
	parts = append(parts, r.text...)
	if len(parts) == 0 {
		return "—"
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), "|", "\\|")
}

func main() {
	out := flag.String("out", "docs/proof.md", "where to write the report")
	fuzztime := flag.String("fuzztime", "30s", "how long each fuzz target runs")
	only := flag.String("only", "", "run only the scenarios whose promise matches this regular expression (plain text: contains it)")
	update := flag.Bool("update", false, "with -only: replace just those rows in the existing report")
	from := flag.String("from", "", "with -update: take the new rows from this report (of an earlier -only run) instead of running tests")
	flag.Parse()

	onlyRE, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proof: -only:", err)
		os.Exit(2)
	}
	started := time.Now()
	var rows []*row
	for _, sc := range scenarios(*fuzztime) {
		if *from != "" {
			break
		}
		if *only != "" && !onlyRE.MatchString(sc.promise) {
			continue
		}
		fmt.Fprintf(os.Stderr, "proof: %s ...", sc.promise)
		got := runScenario(sc, *fuzztime)
		for _, r := range got {
			fmt.Fprintf(os.Stderr, " %s runs %d failures %d", r.Backend, r.Runs, r.failures)
		}
		fmt.Fprintf(os.Stderr, " (%s)\n", got[0].took.Round(time.Second))
		rows = append(rows, got...)
	}

	lines := make([]string, 0, len(rows))
	for _, r := range rows {
		lines = append(lines, tableLine(r))
	}
	if *from != "" {
		doc, err := os.ReadFile(*from)
		if err != nil {
			fmt.Fprintln(os.Stderr, "proof: -from:", err)
			os.Exit(1)
		}
		lines = tableLines(string(doc))
	}
	note := ""
	if *update {
		// Keep the rows of the promises not rerun, in their places.
		old, err := os.ReadFile(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "proof: -update:", err)
			os.Exit(1)
		}
		lines = mergeRows(tableLines(string(old)), lines)
		// A promise new to the report goes where the suite runs it.
		rank := map[string]int{}
		for i, sc := range scenarios(*fuzztime) {
			rank[sc.promise] = i + 1
		}
		at := func(l string) int {
			p := strings.TrimPrefix(strings.SplitN(l, " | ", 2)[0], "| ")
			if r := rank[p]; r > 0 {
				return r
			}
			// Rows a scenario makes of its own (PROOF lines) start with
			// its promise.
			best, r := 0, len(rank)+1
			for sp, sr := range rank {
				if strings.HasPrefix(p, sp) && len(sp) > best {
					best, r = len(sp), sr
				}
			}
			return r
		}
		slices.SortStableFunc(lines, func(a, b string) int { return at(a) - at(b) })
		when := started.UTC().Format("2006-01-02 15:04 MST")
		if m := regexp.MustCompile(`\(bench/proof\) on (.+?): \d+ rows`).FindStringSubmatch(string(old)); m != nil {
			// Earlier reruns stay named.
			note = fmt.Sprintf("%s; rows matching %q rerun on %s", m[1], *only, when)
		}
	}
	failedRows := 0
	for _, l := range lines {
		if cells := strings.Split(l, " | "); len(cells) > 3 && strings.TrimSpace(cells[3]) != "0" {
			failedRows++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Proof of the guarantees\n\n")
	if note == "" {
		note = fmt.Sprintf("%s in %s", started.UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second))
	}
	fmt.Fprintf(&b, "Generated by `make proof` (bench/proof) on %s: %d rows, %d with failures. Do not edit by hand.\n\n",
		note, len(lines), failedRows)
	b.WriteString(intro)
	b.WriteString(tableHead)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString(outro)
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "proof:", err)
		os.Exit(1)
	}
	failures := 0
	for _, r := range rows {
		failures += r.failures
	}
	fmt.Fprintf(os.Stderr, "proof: wrote %s (%d rows, %d with failures; %d failures in this run, %s)\n", *out, len(lines), failedRows, failures,
		time.Since(started).Round(time.Second))
	if failures > 0 {
		os.Exit(1)
	}
}

const tableHead = "| Promise | Backend | Runs | Failures | Figures |\n|---|---|---:|---:|---|\n"

func tableLine(r *row) string {
	backend := r.Backend
	if backend == "" {
		backend = "—"
	}
	return fmt.Sprintf("| %s | %s | %d | %d | %s |", r.Promise, backend, r.Runs, r.failures, figures(r))
}

// tableLines returns the rows of the report's table.
func tableLines(doc string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(l, "|---"):
			in = true
		case in && strings.HasPrefix(l, "| "):
			out = append(out, l)
		case in:
			return out
		}
	}
	return out
}

// mergeRows replaces the old rows of every promise that has new rows, in
// the place of the first of them; promises new to the table go last.
func mergeRows(old, fresh []string) []string {
	promise := func(l string) string { return strings.SplitN(l, " | ", 2)[0] }
	byPromise := map[string][]string{}
	var order []string
	for _, l := range fresh {
		k := promise(l)
		if _, ok := byPromise[k]; !ok {
			order = append(order, k)
		}
		byPromise[k] = append(byPromise[k], l)
	}
	var out []string
	done := map[string]bool{}
	for _, l := range old {
		k := promise(l)
		if rows, ok := byPromise[k]; ok {
			if !done[k] {
				out = append(out, rows...)
				done[k] = true
			}
			continue
		}
		out = append(out, l)
	}
	for _, k := range order {
		if !done[k] {
			out = append(out, byPromise[k]...)
		}
	}
	return out
}

const intro = `Each row is one promise, tested the hard way: a real server process killed
with SIGKILL, real PostgreSQL and SQLite, real HTTP on loopback, hostile
inputs. *Runs* counts kills for the crash rows and tests (top-level) for the
others; *Failures* counts runs that broke the promise. CI (` + "`make test`" + `) runs
the same tests with short settings: one kill per backend, the isolation
matrices, the SSRF corpus, the fuzz seed corpora and the amplification cases.

`

const outro = `
## How to read and rerun

- ` + "`make proof`" + ` reruns everything (about 20 minutes on 2 cores) and rewrites this
  file; ` + "`go run ./bench/proof -only crash -update`" + ` reruns the rows whose
  promise contains "crash" and replaces just those.
- Crash rows: *lost* counts records that were acknowledged (202) but are
  not in the store after the restarts; *duplicates* counts records stored
  twice; *peak rss mb* is the server's peak resident memory before a kill.
- ` + "`make fuzz FUZZTIME=5m`" + ` fuzzes each target longer; a crasher found is
  written to the package's testdata/fuzz directory and then runs in CI.
- Dependency faults: *503 while down* counts answers during the cuts (all
  must carry Retry-After); *recovery max ms* is the longest time from the
  database being reachable again to the first acknowledged request started
  after that, without a restart; goroutines are the server's
  ` + "`go_goroutines`" + ` before the faults and after they ended.
- PostgreSQL restart row: PostgreSQL itself is stopped (` + "`pg_ctl stop`" + `,
  fast and immediate shutdown in turn; *runs* counts the stops) for 3 s
  under webhook writers and started again on its port. *Requests while
  down* started after the stop completed and before the start; each
  must be answered 503 with Retry-After, none 2xx; *recovery max ms* is
  the longest time from PostgreSQL accepting connections to the first
  202, without restarting the server.
- Fuzz rows: executions per second are the executions divided by the
  time elapsed (go test's own figure covers only its last seconds).
- Polling rows: *records* is the last number the API handed out; *gaps*
  counts numbers never stored, *duplicates* numbers stored twice. A poll
  job that was running when the process died is requeued by the restarted
  process (see docs/operations.md, Background jobs after a crash); the
  longest wait for the first poll after a restart is reported.
- Flood rows: the p99 of team B's 1,000 small webhook requests (one
  after another, through the HTTP server), alone and then while team A floods
  the same node: costly mappings (8 senders), 10× its rate limit (most
  answered 429), or huge batches (10,000 records a request). Each run
  measures both in one process, one after the other, quiet only once
  every request of the earlier floods has ended (a canceled flood's
  requests once went on for seconds and inflated quiet, hence the old
  rows' quiet p99 of 47–198 ms; rows before 2026-12-07 took the p99 of
  200 requests, their third worst); the row gives the
  median of the runs' flood/quiet ratios, and each run's. Issue 11
  promises at most 2× of quiet: a median above it counts as a failure.
  The mapping row also gives one run with the per-team CPU share off.
  On a machine shared with other work the ratios vary a lot from run to
  run; read the per-run figures.
- Upload rows: NDJSON files of numbered rows, each kill made while rows
  are being committed (after the upload's rows advanced in that process);
  a finished upload is followed by the next. *missing* counts numbers
  never stored, *duplicates* numbers stored twice; every upload must end
  ` + "`done`" + ` with all its rows accepted.
`
