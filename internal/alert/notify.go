package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/wneessen/go-mail"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/store"
)

// Notification is what every channel is sent, as JSON for webhooks and
// as text for Slack and email.
type Notification struct {
	// ID is stable per transition, channel and repeat: the Standard
	// Webhooks message id, so a receiver can drop a redelivery.
	ID   string    `json:"id"`
	Type string    `json:"type"` // alert.firing, alert.resolved, alert.test
	At   time.Time `json:"at"`
	// Rule and pipeline, as they were named at the transition.
	TeamID       uuid.UUID         `json:"team_id"`
	RuleID       uuid.UUID         `json:"rule_id"`
	Rule         string            `json:"rule"`
	PipelineID   uuid.UUID         `json:"pipeline_id"`
	Pipeline     string            `json:"pipeline"`
	State        string            `json:"state"`
	Previous     string            `json:"previous"`
	Severity     string            `json:"severity"`
	Value        float64           `json:"value"`
	Message      string            `json:"message"`
	Labels       map[string]string `json:"labels,omitempty"`
	Repeat       int               `json:"repeat,omitempty"`
	TransitionID uuid.UUID         `json:"transition_id"`
}

// Title is a one-line summary.
func (n *Notification) Title() string {
	if n.Type == "alert.test" {
		return "[Tributary] Test notification"
	}
	return fmt.Sprintf("[Tributary %s] %s: %s on %s", strings.ToUpper(n.Severity), strings.ToUpper(n.State), n.Rule, n.Pipeline)
}

// Text is the summary and the message.
func (n *Notification) Text() string {
	s := n.Title() + "\n" + n.Message
	if n.Repeat > 0 {
		s += fmt.Sprintf("\n(still firing; reminder %d)", n.Repeat)
	}
	return s
}

// deliver sends one notification job.
func (s *Service) deliver(ctx context.Context, a NotifyArgs) error {
	ch, err := s.d.Store.AlertChannel(ctx, a.TeamID, a.Channel)
	if errors.Is(err, core.ErrNotFound) {
		return nil // the channel was deleted
	}
	if err != nil {
		return err
	}
	tr, err := s.d.Store.AlertTransition(ctx, a.TeamID, a.Transition)
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	n := &Notification{
		ID: fmt.Sprintf("alert_%s_%s_%d", tr.ID, ch.ID, a.Repeat), Type: "alert." + tr.To, At: tr.At,
		TeamID: tr.TeamID, RuleID: tr.RuleID, Rule: tr.RuleName, PipelineID: tr.PipelineID, Pipeline: tr.PipelineName,
		State: tr.To, Previous: tr.From, Severity: tr.Severity, Value: tr.Value, Message: tr.Message, Repeat: a.Repeat, TransitionID: tr.ID,
	}
	if r, err := s.d.Store.AlertRule(ctx, a.TeamID, tr.RuleID); err == nil {
		if rule, err := ParseRule(r.Spec); err == nil {
			n.Labels = rule.Labels
		}
	}
	return s.sendAndRecord(ctx, ch, n)
}

func (s *Service) sendAndRecord(ctx context.Context, ch store.AlertChannel, n *Notification) error {
	sendCtx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	err := s.send(sendCtx, ch, n)
	cancel()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if herr := s.d.Store.SetAlertChannelHealth(context.WithoutCancel(ctx), ch.TeamID, ch.ID, time.Now().UTC(), msg); herr != nil {
		s.log.WarnContext(ctx, "record alert channel health", "channel", ch.ID, "err", herr)
	}
	if err != nil {
		return fmt.Errorf("channel %s: %w", ch.Name, err)
	}
	return nil
}

// Test sends a test notification to a stored channel now and records the
// outcome as the channel's health; the error says why it failed.
func (s *Service) Test(ctx context.Context, ch store.AlertChannel) error {
	n := &Notification{
		ID: "alert_test_" + uuid.Must(uuid.NewV7()).String(), Type: "alert.test", At: time.Now().UTC(), TeamID: ch.TeamID,
		Rule: "test", Pipeline: "-", State: "test", Severity: "info",
		Message: fmt.Sprintf("This is a test notification of channel %s. If you read it, the channel works.", ch.Name),
	}
	return s.sendAndRecord(ctx, ch, n)
}

func (s *Service) send(ctx context.Context, ch store.AlertChannel, n *Notification) error {
	c, err := ParseChannel(ch.Spec)
	if err != nil {
		return fmt.Errorf("the channel's settings are not valid: %w", err)
	}
	switch {
	case c.Webhook != nil:
		body, err := json.Marshal(n)
		if err != nil {
			return err
		}
		var secrets []signature.Secret
		if c.Webhook.SigningSecret != "" {
			raw, err := s.d.Secrets(ctx, ch.TeamID, c.Webhook.SigningSecret)
			if err != nil {
				return fmt.Errorf("open signing secret %q: %w", c.Webhook.SigningSecret, err)
			}
			sec, err := signature.ParseSecret(string(raw))
			if err != nil {
				return fmt.Errorf("signing secret %q is not a Standard Webhooks secret (whsec_…)", c.Webhook.SigningSecret)
			}
			secrets = append(secrets, sec)
		}
		return s.post(ctx, c.Webhook.URL, body, func(h http.Header) {
			if len(secrets) > 0 {
				signature.SetHeaders(h, n.ID, time.Now(), body, secrets...)
			}
		})
	case c.Slack != nil:
		raw, err := s.d.Secrets(ctx, ch.TeamID, c.Slack.URLSecret)
		if err != nil {
			return fmt.Errorf("open the Slack URL secret %q: %w", c.Slack.URLSecret, err)
		}
		body, err := json.Marshal(map[string]string{"text": n.Text()})
		if err != nil {
			return err
		}
		return s.post(ctx, strings.TrimSpace(string(raw)), body, nil)
	case c.Email != nil:
		return s.mail(ctx, c.Email.To, n)
	default:
		return s.inApp(ctx, ch, n)
	}
}

// post sends body to rawURL through the guarded client. Its errors never
// carry the URL, which may be a credential (Slack).
func (s *Service) post(ctx context.Context, rawURL string, body []byte, sign func(http.Header)) error {
	if err := s.d.CheckURL(rawURL); err != nil {
		return fmt.Errorf("the URL is refused: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("the URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tributary-Alerts")
	if sign != nil {
		sign(req.Header)
	}
	resp, err := s.d.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("send: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}

func (s *Service) mail(ctx context.Context, to []string, n *Notification) error {
	cfg := s.cfg.SMTP
	if cfg.Host == "" {
		return errors.New("email is not configured on this server (TRIBUTARY_SMTP_HOST)")
	}
	// The host is checked where it counts: the guard's dialer refuses an
	// internal address when the connection is made.
	m := mail.NewMsg()
	if err := m.From(cfg.From); err != nil {
		return fmt.Errorf("sender address: %w", err)
	}
	if err := m.To(to...); err != nil {
		return fmt.Errorf("recipient addresses: %w", err)
	}
	m.Subject(n.Title())
	m.SetBodyString(mail.TypeTextPlain, n.Text())
	opts := []mail.Option{mail.WithDialContextFunc(s.d.Dial), mail.WithTimeout(s.cfg.SendTimeout)}
	port := cfg.Port
	switch cfg.TLS {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		if port == 0 {
			port = 25
		}
	case "tls":
		opts = append(opts, mail.WithSSL())
		if port == 0 {
			port = 465
		}
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		if port == 0 {
			port = 587
		}
	}
	opts = append(opts, mail.WithPort(port))
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	c, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}

// InAppEvent is what the broker carries to the UI for an in-app
// notification (pubsub.KindControl on Topic(team)).
type InAppEvent struct {
	Event        string    `json:"event"` // "alert"
	ID           uuid.UUID `json:"id"`
	Title        string    `json:"title"`
	Body         string    `json:"body"`
	Severity     string    `json:"severity"`
	TransitionID uuid.UUID `json:"transition_id"`
}

func (s *Service) inApp(ctx context.Context, ch store.AlertChannel, n *Notification) error {
	an := store.AlertNotification{
		ID: uuid.Must(uuid.NewV7()), TeamID: ch.TeamID, TransitionID: n.TransitionID, Repeat: n.Repeat,
		Severity: n.Severity, Title: n.Title(), Body: n.Message, CreatedAt: time.Now().UTC(),
	}
	if n.Type == "alert.test" {
		an.TransitionID = uuid.Must(uuid.NewV7())
	}
	added, err := s.d.Store.AddAlertNotification(ctx, an)
	if err != nil || !added || s.d.Broker == nil {
		return err
	}
	payload, _ := json.Marshal(InAppEvent{Event: "alert", ID: an.ID, Title: an.Title, Body: an.Body, Severity: an.Severity, TransitionID: an.TransitionID})
	if err := s.d.Broker.Publish(ctx, Topic(ch.TeamID), pubsub.Message{Kind: pubsub.KindControl, Payload: payload}); err != nil {
		s.log.WarnContext(ctx, "publish in-app alert; the list still has it", "err", err)
	}
	return nil
}
