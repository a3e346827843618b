package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

// Queue is the River queue of alert evaluations and notifications, apart
// from the others so that a slow channel never delays ingest work.
const Queue = "alerts"

// Store is what alerting needs of the store; store.Store is one.
type Store interface {
	store.Alerts
}

var _ Store = store.Store(nil)

// Secrets opens a team secret by name; *vault.Vault's Open is one.
type Secrets func(ctx context.Context, teamID uuid.UUID, name string) ([]byte, error)

// SMTP is the server's mail settings (TRIBUTARY_SMTP_*).
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	// TLS is "starttls" (the default: required), "tls" (implicit TLS) or
	// "none" (plain; for a relay on a trusted network and tests).
	TLS string
}

// SMTPFromEnv reads TRIBUTARY_SMTP_HOST, _PORT, _USERNAME, _PASSWORD,
// _FROM and _TLS through getenv (os.Getenv). Without a host, email
// channels answer that mail is not configured.
func SMTPFromEnv(getenv func(string) string) (SMTP, error) {
	s := SMTP{
		Host: getenv("TRIBUTARY_SMTP_HOST"), Username: getenv("TRIBUTARY_SMTP_USERNAME"),
		Password: getenv("TRIBUTARY_SMTP_PASSWORD"), From: getenv("TRIBUTARY_SMTP_FROM"), TLS: getenv("TRIBUTARY_SMTP_TLS"),
	}
	if p := getenv("TRIBUTARY_SMTP_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return s, fmt.Errorf("TRIBUTARY_SMTP_PORT=%q is not a port number", p)
		}
		s.Port = n
	}
	switch s.TLS {
	case "", "starttls", "tls", "none":
	default:
		return s, fmt.Errorf("TRIBUTARY_SMTP_TLS=%q: say starttls, tls or none", s.TLS)
	}
	if s.Host != "" && s.From == "" {
		return s, errors.New("TRIBUTARY_SMTP_FROM is required with TRIBUTARY_SMTP_HOST: the sender address of alert mails")
	}
	return s, nil
}

// ConfigFromEnv reads the settings of alerting from the environment
// through getenv (os.Getenv): TRIBUTARY_ALERT_INTERVAL (the evaluation
// tick, default 30s) and the TRIBUTARY_SMTP_* settings (see SMTPFromEnv).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	if v := getenv("TRIBUTARY_ALERT_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return c, fmt.Errorf("TRIBUTARY_ALERT_INTERVAL=%q: say a duration of at least 1s, such as 30s", v)
		}
		c.Interval = d
	}
	smtp, err := SMTPFromEnv(getenv)
	c.SMTP = smtp
	return c, err
}

// Config tunes alerting.
type Config struct {
	// Interval is the evaluation tick; 0 means DefaultInterval.
	Interval time.Duration
	// BatchSize is how many rules one step of an evaluation loads and
	// writes; 0 means 1000.
	BatchSize int
	// Workers is how many notifications are sent at once; 0 means 10.
	Workers int
	// MaxAttempts is how many times a notification is tried; 0 means 10.
	MaxAttempts int
	// Retry returns the wait before attempt n+1 after n failed ones; nil
	// means a backoff from 5 seconds to 30 minutes.
	Retry func(attempt int) time.Duration
	// SendTimeout bounds one send; 0 means 30 seconds.
	SendTimeout time.Duration
	// SMTP is the mail server of email channels.
	SMTP SMTP
	// BaseURL is the server's public URL, for links in notifications.
	BaseURL string
	Logger  *slog.Logger
}

// DefaultInterval is the default evaluation tick.
const DefaultInterval = 30 * time.Second

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.Workers <= 0 {
		c.Workers = 10
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Retry == nil {
		c.Retry = func(n int) time.Duration {
			return min(5*time.Second<<min(n-1, 10), 30*time.Minute)
		}
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Deps are the parts alerting calls.
type Deps struct {
	Store Store
	// Secrets opens channel credentials.
	Secrets Secrets
	// HTTP sends webhook and Slack notifications; it must be a guarded
	// client (netguard) that refuses internal addresses.
	HTTP *http.Client
	// Dial connects to the SMTP server through the same guard.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// CheckURL refuses URLs that point at internal addresses
	// (netguard.Guard.CheckURL).
	CheckURL func(rawURL string) error
	// Broker, when set, carries in-app notifications live to the UI, on
	// Topic(team).
	Broker pubsub.Broker
}

// Topic is the broker topic of a team's in-app notifications.
func Topic(teamID uuid.UUID) string { return "alerts:" + teamID.String() }

// Service evaluates rules and sends notifications. Register it with River
// (it is a jobs.Domain); Evaluate and Test are also called directly.
type Service struct {
	cfg Config
	d   Deps
	log *slog.Logger
}

// New returns the service.
func New(cfg Config, d Deps) (*Service, error) {
	if d.Store == nil || d.Secrets == nil || d.HTTP == nil || d.Dial == nil || d.CheckURL == nil {
		return nil, errors.New("alert: Deps.Store, Secrets, HTTP, Dial and CheckURL are required")
	}
	cfg = cfg.withDefaults()
	return &Service{cfg: cfg, d: d, log: cfg.Logger}, nil
}

// Interval returns the evaluation tick.
func (s *Service) Interval() time.Duration { return s.cfg.Interval }

// Register adds the alerts queue, the workers and the periodic evaluation
// to a River configuration.
func (s *Service) Register(cfg *river.Config) {
	if cfg.Queues == nil {
		cfg.Queues = map[string]river.QueueConfig{}
	}
	cfg.Queues[Queue] = river.QueueConfig{MaxWorkers: s.cfg.Workers}
	if cfg.Workers == nil {
		cfg.Workers = river.NewWorkers()
	}
	river.AddWorker(cfg.Workers, &evaluateWorker{s: s})
	river.AddWorker(cfg.Workers, &notifyWorker{s: s})
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(s.cfg.Interval),
		func() (river.JobArgs, *river.InsertOpts) {
			return EvaluateArgs{Tick: time.Now().UTC().Truncate(s.cfg.Interval)}, &river.InsertOpts{
				Queue:      Queue,
				UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: s.cfg.Interval},
			}
		}, &river.PeriodicJobOpts{RunOnStart: true}))
}
