package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/specfile"
)

func pipelinesCommand(env Env) *cobra.Command {
	var format string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the team's pipelines",
		Args:  args(),
		RunE: remoteRun(env, func(ctx context.Context, r *remote, _ []string) error {
			ps, err := r.c.ListPipelines(ctx)
			if err != nil {
				return err
			}
			if ps == nil {
				ps = []client.Pipeline{}
			}
			return output(env, format, ps, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tKIND\tSTATUS\tVERSION\tRECORDS\tLAST RECORD\tID")
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p.Name, p.Kind, p.Status, p.Version, p.Stats.RecordCount, ago(p.Stats.LastRecordAt), p.ID)
				}
			})
		}),
	}
	list.Flags().StringVarP(&format, "output", "o", "table", "table, json or yaml")

	var getFormat string
	get := &cobra.Command{
		Use:               "get PIPELINE",
		Short:             "Show a pipeline (by name or id) with its spec",
		Args:              args("PIPELINE"),
		ValidArgsFunction: completePipelines(env),
		RunE: remoteRun(env, func(ctx context.Context, r *remote, args []string) error {
			p, err := r.resolve(ctx, args[0])
			if err != nil {
				return err
			}
			if p, err = r.c.Pipeline(ctx, p.ID); err != nil {
				return err
			}
			return output(env, getFormat, p, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Name:\t%s\nID:\t%s\nKind:\t%s\nStatus:\t%s\nVersion:\t%d\nRecords:\t%d\nRejected:\t%d\nLast record:\t%s\n",
					p.Name, p.ID, p.Kind, p.Status, p.Version, p.Stats.RecordCount, p.Stats.RejectedCount, ago(p.Stats.LastRecordAt))
				switch {
				case p.IngestURL != "":
					fmt.Fprintf(w, "Ingest URL:\t%s\n", p.IngestURL)
				case p.IngestTokenPrefix != "":
					// The server keeps only a hash of the token: the URL
					// was shown when the pipeline was created.
					fmt.Fprintf(w, "Ingest URL:\t…/hooks/%s… (shown once, at creation; rotating the token shows a new one)\n", p.IngestTokenPrefix)
				}
				if y, err := specfile.Encode(p.Spec); err == nil {
					fmt.Fprintf(w, "Spec:\n%s", indent(string(y), "  "))
				}
			})
		}),
	}
	get.Flags().StringVarP(&getFormat, "output", "o", "table", "table, json or yaml")

	verb := func(use, short string, do func(ctx context.Context, r *remote, p *client.Pipeline) (string, error)) *cobra.Command {
		return &cobra.Command{
			Use:               use + " PIPELINE",
			Short:             short,
			Args:              args("PIPELINE"),
			ValidArgsFunction: completePipelines(env),
			RunE: remoteRun(env, func(ctx context.Context, r *remote, args []string) error {
				p, err := r.resolve(ctx, args[0])
				if err != nil {
					return err
				}
				msg, err := do(ctx, r, p)
				if err != nil {
					return err
				}
				fmt.Fprintln(env.Stdout, msg)
				return nil
			}),
		}
	}
	var yes bool
	del := verb("delete", "Delete a pipeline with its records (asks first unless --yes)", func(ctx context.Context, r *remote, p *client.Pipeline) (string, error) {
		if !yes && !confirm(env, fmt.Sprintf("Delete pipeline %q with its %d records?", p.Name, p.Stats.RecordCount)) {
			return "", errors.New("not deleted: the deletion was not confirmed (--yes confirms)")
		}
		return fmt.Sprintf("deleted pipeline %s", p.Name), r.c.DeletePipeline(ctx, p.ID)
	})
	del.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")

	return group(env, "pipelines", "List, show, pause, resume, run and delete pipelines",
		list, get,
		verb("pause", "Pause a pipeline: it takes no records and is not polled", func(ctx context.Context, r *remote, p *client.Pipeline) (string, error) {
			p, err := r.c.PausePipeline(ctx, p.ID)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("pipeline %s is %s", p.Name, p.Status), nil
		}),
		verb("resume", "Resume a paused pipeline", func(ctx context.Context, r *remote, p *client.Pipeline) (string, error) {
			p, err := r.c.ResumePipeline(ctx, p.ID)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("pipeline %s is %s", p.Name, p.Status), nil
		}),
		verb("run", "Poll a polling pipeline now", func(ctx context.Context, r *remote, p *client.Pipeline) (string, error) {
			run, err := r.c.RunPipeline(ctx, p.ID)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("pipeline %s: a poll is due now (%s)", p.Name, run.Due.Local().Format(time.RFC3339)), nil
		}),
		del,
	)
}

func recordsCommand(env Env) *cobra.Command {
	var recent bool
	tail := &cobra.Command{
		Use:   "tail PIPELINE",
		Short: "Follow a pipeline's live stream: one JSON record a line",
		Long: `Follow a pipeline's live stream and print each record as one JSON line
{"id": …, "ts": …, "data": …}, until interrupted or the pipeline is deleted.
The connection is restored when it breaks; records seen before are not printed twice.`,
		Args:              args("PIPELINE"),
		ValidArgsFunction: completePipelines(env),
		RunE: remoteRun(env, func(ctx context.Context, r *remote, args []string) error {
			p, err := r.resolve(ctx, args[0])
			if err != nil {
				return err
			}
			var lastID int64
			first := true
			enc := json.NewEncoder(env.Stdout)
			enc.SetEscapeHTML(false)
			err = r.c.Follow(ctx, p.ID, client.FollowOptions{
				OnReconnect: func(err error, wait time.Duration) {
					fmt.Fprintf(env.Stderr, "tributary: the live stream broke (%v); reconnecting in %s\n", r.explain(err), wait)
				},
			}, func(ev client.StreamEvent) error {
				switch ev.Type {
				case client.EventRecent:
					if !recent && first {
						for _, rec := range ev.Records {
							lastID = max(lastID, rec.ID)
						}
						first = false
						return nil
					}
					first = false
				case client.EventRecords:
				case client.EventLagged:
					fmt.Fprintf(env.Stderr, "tributary: %d batches were dropped because the output is slow\n", ev.Dropped)
					return nil
				case client.EventControl:
					fmt.Fprintf(env.Stderr, "tributary: pipeline %s was %s\n", p.Name, ev.Control.Event)
					return nil
				}
				for _, rec := range ev.Records {
					if rec.ID != 0 && rec.ID <= lastID {
						continue
					}
					lastID = max(lastID, rec.ID)
					if err := enc.Encode(rec); err != nil {
						return err
					}
				}
				return nil
			})
			if errors.Is(err, context.Canceled) {
				return nil // interrupted: the normal end
			}
			return err
		}),
	}
	tail.Flags().BoolVar(&recent, "recent", true, "print the recent records the server holds first")

	var from, to, format string
	var limit int
	query := &cobra.Command{
		Use:   "query PIPELINE",
		Short: "Print a pipeline's stored records in a time range, newest first",
		Example: `  tributary records query orders --from 2025-01-01T00:00:00Z --to 2025-01-02T00:00:00Z
  tributary records query orders --from 1h -o json`,
		Args:              args("PIPELINE"),
		ValidArgsFunction: completePipelines(env),
		RunE: remoteRun(env, func(ctx context.Context, r *remote, args []string) error {
			q := client.RecordQuery{Limit: min(limit, 1000)}
			var err error
			if q.From, err = parseWhen("--from", from); err != nil {
				return err
			}
			if q.To, err = parseWhen("--to", to); err != nil {
				return err
			}
			if limit <= 0 {
				return UsageError{"--limit must be positive"}
			}
			p, err := r.resolve(ctx, args[0])
			if err != nil {
				return err
			}
			var recs []client.Record
			for len(recs) < limit {
				page, err := r.c.Records(ctx, p.ID, q)
				if err != nil {
					return err
				}
				recs = append(recs, page.Records...)
				if page.NextCursor == "" {
					break
				}
				q.Cursor = page.NextCursor
			}
			if len(recs) > limit {
				recs = recs[:limit]
			}
			if recs == nil {
				recs = []client.Record{}
			}
			return output(env, format, recs, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "TS\tID\tDATA")
				for _, rec := range recs {
					fmt.Fprintf(w, "%s\t%d\t%s\n", rec.TS.UTC().Format(time.RFC3339Nano), rec.ID, rec.Data)
				}
			})
		}),
	}
	query.Flags().StringVar(&from, "from", "", "oldest event time: RFC 3339, or a duration back from now such as 1h or 7d")
	query.Flags().StringVar(&to, "to", "", "newest event time, exclusive: RFC 3339 or a duration back from now (default now)")
	query.Flags().IntVar(&limit, "limit", 1000, "print at most this many records")
	query.Flags().StringVarP(&format, "output", "o", "table", "table, json or yaml")
	return group(env, "records", "Follow and query a pipeline's records", tail, query)
}

// parseWhen reads a time: RFC 3339, or a duration ago ("90m", "7d").
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d := strings.TrimPrefix(s, "-")
	if days, ok := strings.CutSuffix(d, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && fmt.Sprint(n) == days {
			return time.Now().Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if dur, err := time.ParseDuration(d); err == nil {
		return time.Now().Add(-dur), nil
	}
	return time.Time{}, UsageError{fmt.Sprintf("%s %q: use RFC 3339 (2025-01-02T15:04:05Z) or a duration such as 1h or 7d", flag, s)}
}

func uploadCommand(env Env) *cobra.Command {
	var format string
	var noWait bool
	cmd := &cobra.Command{
		Use:   "upload PIPELINE FILE",
		Short: "Upload a CSV, JSON or NDJSON file into a pipeline",
		Long: `Upload a file into a pipeline and follow its processing. The file streams to the server,
with a progress bar on stderr when it is a terminal; the server then commits its rows in chunks.
The format comes from --format, else the file's extension (.csv, .json, .ndjson, .jsonl).`,
		Args:              args("PIPELINE", "FILE"),
		ValidArgsFunction: completePipelines(env),
		RunE: remoteRun(env, func(ctx context.Context, r *remote, args []string) error {
			f, err := os.Open(args[1])
			if err != nil {
				return fmt.Errorf("open %s: %w", args[1], errors.Unwrap(err))
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("open %s: %w", args[1], err)
			}
			p, err := r.resolve(ctx, args[0])
			if err != nil {
				return err
			}
			bar := newProgressBar(env.Stderr)
			u, err := r.c.Upload(ctx, p.ID, f, client.UploadOptions{Filename: args[1], Format: format, Size: st.Size(), Progress: bar.update})
			bar.done()
			if err != nil {
				return err
			}
			if noWait {
				fmt.Fprintf(env.Stdout, "uploaded %s (%d bytes) as upload %s; the server is processing it\n", args[1], u.Size, u.ID)
				return nil
			}
			u, err = r.c.WaitUpload(ctx, p.ID, u.ID, 0, bar.update)
			bar.done()
			if err != nil {
				return err
			}
			if u.Status == "failed" {
				return fmt.Errorf("upload %s failed: %s", u.ID, u.Error)
			}
			fmt.Fprintf(env.Stdout, "uploaded %s into %s: %d rows accepted, %d rejected\n", args[1], p.Name, u.Accepted, u.Rejected)
			return nil
		}),
	}
	cmd.Flags().StringVar(&format, "format", "", "csv, json or ndjson (default: from the file's extension)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the file is sent, without following its processing")
	return cmd
}

// ago is a time as "3m ago", or "-".
func ago(t *time.Time) string {
	if t == nil {
		return "-"
	}
	d := time.Since(*t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}
