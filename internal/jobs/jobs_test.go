package jobs_test

import (
	"flag"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/jobs"
)

// The rescue delay defaults to twice the longest job timeout — minutes,
// not River's hour — and stays above every built-in job's timeout.
func TestRescueDefaults(t *testing.T) {
	t.Parallel()
	if jobs.DefaultRescueAfter != 2*jobs.LongestJobTimeout || jobs.DefaultRescueAfter >= time.Hour {
		t.Fatalf("DefaultRescueAfter = %v, longest job timeout %v", jobs.DefaultRescueAfter, jobs.LongestJobTimeout)
	}
	for name, d := range map[string]time.Duration{"upload": jobs.DefaultUploadTimeout, "retention": jobs.RetentionTimeout,
		"delivery": 5 * time.Minute, "poll": 2*time.Minute + 30*time.Second} {
		if d > jobs.LongestJobTimeout {
			t.Errorf("the %s timeout %v exceeds LongestJobTimeout %v", name, d, jobs.LongestJobTimeout)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc := jobs.RiverConfig(jobs.Config{Workers: 1, Logger: log}, jobs.Deps{})
	if rc.RescueStuckJobsAfter != jobs.DefaultRescueAfter || rc.CompletedJobRetentionPeriod != jobs.DefaultCompletedRetention {
		t.Errorf("defaults: rescue after %v, completed kept %v", rc.RescueStuckJobsAfter, rc.CompletedJobRetentionPeriod)
	}
	if rc.JobTimeout != river.JobTimeoutDefault {
		t.Errorf("job timeout %v, want River's %v", rc.JobTimeout, river.JobTimeoutDefault)
	}
}

// TRIBUTARY_JOB_RESCUE_AFTER and TRIBUTARY_JOB_KEEP_COMPLETED reach
// River's configuration.
func TestRescueOverride(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TRIBUTARY_JOB_RESCUE_AFTER": "7m", "TRIBUTARY_JOB_KEEP_COMPLETED": "3h"}
	cfg := config.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	check := cfg.Register(fs, func(k string) string { return env[k] }, false)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := check(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc := jobs.RiverConfig(jobs.Config{Workers: 1, Logger: log, RescueAfter: cfg.JobRescueAfter, CompletedRetention: cfg.JobKeepCompleted}, jobs.Deps{})
	if rc.RescueStuckJobsAfter != 7*time.Minute || rc.CompletedJobRetentionPeriod != 3*time.Hour {
		t.Errorf("overrides: rescue after %v, completed kept %v", rc.RescueStuckJobsAfter, rc.CompletedJobRetentionPeriod)
	}
	// A rescue below River's default job timeout also cuts off jobs
	// without a timeout of their own, so they end before their rescue.
	rc = jobs.RiverConfig(jobs.Config{Workers: 1, Logger: log, RescueAfter: 20 * time.Second}, jobs.Deps{})
	if rc.JobTimeout != 20*time.Second {
		t.Errorf("job timeout %v with a 20s rescue", rc.JobTimeout)
	}
	bad := config.Default()
	bad.JobKeepCompleted = -time.Second
	if err := bad.Validate(false); err == nil {
		t.Error("a negative completed-job retention was accepted")
	}
}
