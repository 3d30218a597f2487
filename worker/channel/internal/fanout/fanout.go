// Package fanout turns the outcomes of one attempt's recipients (device
// tokens, numbers) into the attempt's result: what the worker records and
// whether the message is sent, retried or failed.
//
// The rule, the same for every channel that sends to several recipients:
// a recipient is settled when the provider accepted it or refused it for
// good (INVALID_RECIPIENT); settled recipients are recorded with the
// attempt and skipped by later attempts, so a retry never repeats a
// delivery that succeeded. A retryable failure of any recipient retries
// the message (for the unsettled ones only). A message-level failure
// (rejected credentials, a payload the provider refuses) fails it. When
// every recipient is settled the message is sent if at least one accepted
// it, and failed with INVALID_RECIPIENT if none did.
package fanout

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/worker/channel"
)

// Outcome is one recipient's result in one attempt.
type Outcome struct {
	Recipient string
	// Err is nil when the provider accepted the recipient.
	Err error
	// Result is the provider's response for this recipient, if any.
	Result channel.Result
	// ProviderID is the provider's id of the accepted message, if any.
	ProviderID string
}

// summary is one recipient's line in the attempt's response body.
type summary struct {
	Recipient      string `json:"recipient"`
	Status         string `json:"status"` // sent, refused, retry, failed
	ProviderID     string `json:"provider_id,omitempty"`
	ProviderStatus int    `json:"provider_status,omitempty"`
	ErrorCode      string `json:"error_code,omitempty"`
	Error          string `json:"error,omitempty"`
}

// Summarize returns the attempt's Result and error. skipped is how many
// recipients earlier attempts settled.
func Summarize(outcomes []Outcome, skipped int) (channel.Result, error) {
	var res channel.Result
	lines := make([]summary, 0, len(outcomes))
	var accepted, refused int
	var retry, fatal, firstRefusal *channel.Error
	var retryAfter time.Duration
	for _, o := range outcomes {
		line := summary{Recipient: o.Recipient, ProviderID: o.ProviderID, ProviderStatus: o.Result.StatusCode}
		if o.Err == nil {
			accepted++
			line.Status = "sent"
			res.Done = append(res.Done, o.Recipient)
			lines = append(lines, line)
			continue
		}
		ce := channel.Classify(o.Err)
		line.ErrorCode, line.Error = ce.Code, ce.Error()
		switch {
		case ce.Retryable:
			line.Status = "retry"
			if retry == nil {
				retry = ce
			}
			retryAfter = max(retryAfter, ce.RetryAfter)
		case ce.Code == channel.CodeInvalidRecipient:
			line.Status = "refused"
			refused++
			res.Done = append(res.Done, o.Recipient)
			if firstRefusal == nil {
				firstRefusal = ce
			}
		default:
			line.Status = "failed"
			if fatal == nil {
				fatal = ce
			}
		}
		lines = append(lines, line)
	}
	if len(outcomes) == 1 && outcomes[0].Result.StatusCode != 0 {
		// One recipient: keep the provider's own answer.
		res.StatusCode, res.ContentType, res.Body = outcomes[0].Result.StatusCode, outcomes[0].Result.ContentType, outcomes[0].Result.Body
	} else {
		// The status of the first failure, else of the first success.
		for _, o := range outcomes {
			if o.Err != nil && o.Result.StatusCode != 0 {
				res.StatusCode = o.Result.StatusCode
				break
			}
		}
		for _, o := range outcomes {
			if res.StatusCode == 0 && o.Err == nil {
				res.StatusCode = o.Result.StatusCode
			}
		}
		if res.StatusCode == 0 {
			res.StatusCode = 200
		}
		res.ContentType = "application/json"
		res.Body, _ = json.Marshal(map[string]any{"recipients": lines})
		if len(res.Body) > channel.MaxBody {
			res.Body = res.Body[:channel.MaxBody]
		}
	}
	n := len(outcomes)
	switch {
	case fatal != nil:
		return res, &channel.Error{Code: fatal.Code, Err: prefix(n, n-accepted-refused, fatal)}
	case retry != nil:
		return res, &channel.Error{Code: retry.Code, Retryable: true, RetryAfter: retryAfter, Err: prefix(n, n-accepted-refused, retry)}
	case accepted == 0 && skipped == 0 && firstRefusal != nil:
		return res, &channel.Error{Code: channel.CodeInvalidRecipient, Err: prefix(n, refused, firstRefusal)}
	}
	return res, nil
}

func prefix(total, failing int, err error) error {
	if total == 1 {
		return err
	}
	return fmt.Errorf("%d of %d recipients not delivered; first: %w", failing, total, errors.Unwrap(err))
}
