package core

// SinkHealth is the part of a sink's state that its health rule reads and
// writes: the stores load it, ask it what comes next, and save the answer
// in the same transaction.
//
// The rule:
//   - a delivered attempt clears the run of failures and makes the sink
//     active again, unless it is disabled;
//   - a failed attempt lengthens the run of failures, and makes the sink
//     failing once the run reaches the threshold (0: never), unless it is
//     disabled;
//   - disabled stays disabled, with its reason, until set otherwise;
//   - setting a status by hand keeps the run of failures, except active,
//     which clears it.
type SinkHealth struct {
	Status SinkStatus
	// Reason says why the sink is failing or disabled.
	Reason              string
	ConsecutiveFailures int
}

// NewSinkHealth is the health of a sink that has no state yet.
func NewSinkHealth() SinkHealth { return SinkHealth{Status: SinkActive} }

// Delivered returns the health after a delivered attempt.
func (h SinkHealth) Delivered() SinkHealth {
	h.ConsecutiveFailures = 0
	if h.Status != SinkDisabled {
		h.Status, h.Reason = SinkActive, ""
	}
	return h
}

// Failed returns the health after a failed attempt that ended with
// lastError; failingAfter failures in a row make the sink failing, and 0
// never does.
func (h SinkHealth) Failed(lastError string, failingAfter int) SinkHealth {
	h.ConsecutiveFailures++
	if h.Status != SinkDisabled && failingAfter > 0 && h.ConsecutiveFailures >= failingAfter {
		h.Status, h.Reason = SinkFailing, FailingReason(lastError)
	}
	return h
}

// Set returns the health after a user or the system set the status (a
// sink switched off, or gone): active also clears the run of failures.
func (h SinkHealth) Set(status SinkStatus, reason string) SinkHealth {
	h.Status, h.Reason = status, reason
	if status == SinkActive {
		h.ConsecutiveFailures = 0
	}
	return h
}

// FailingReason is the reason of a sink made failing by lastError.
func FailingReason(lastError string) string {
	return "deliveries keep failing; the last error: " + lastError
}
