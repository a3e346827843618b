// Package alert evaluates a team's alert rules and notifies its channels.
//
// A rule (ParseRule) watches one pipeline or every pipeline of its team for
// one condition: the pipeline failing (or a sink failing or with dead
// deliveries), no data for a window, a share of rejected records over a
// window above a ratio, or a numeric field's aggregate over a window,
// read from the minute rollups, crossing a threshold. Per pipeline a rule
// moves through ok → pending → firing → resolved → ok (Step, a pure state
// machine); every move is a transition kept in the store.
//
// Evaluation is a River job per tick (EvaluateArgs), unique by tick across
// nodes. Evaluate loads the due rules in batches and reads what they need
// with one store call per kind of fact (and per distinct window), then
// writes the new states and transitions of a batch in one transaction that
// also moves each rule's last tick forward and enqueues one notification
// job (NotifyArgs) per transition and channel: a rule is evaluated at most
// once per tick, and a transition notifies each channel exactly once (with
// River's retries), plus one repeat per repeat interval while firing.
// Silenced transitions are recorded and not notified.
//
// Channels (ParseChannel) are signed webhooks (Standard Webhooks, the HTTP
// sink's signer), Slack incoming webhooks, email over SMTP and the in-app
// list (published live on the broker). Credentials come from team secrets
// by name; every URL and the SMTP host go through the network guard. A
// failing send marks the channel failing with its error and is retried; it
// never holds up evaluation or other channels.
package alert
