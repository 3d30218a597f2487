package push

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/fanout"
	"github.com/heraldhq/herald/worker/channel/internal/httpx"
)

type expoMessage struct {
	To    string                     `json:"to"`
	Title string                     `json:"title,omitempty"`
	Body  string                     `json:"body,omitempty"`
	Data  map[string]json.RawMessage `json:"data,omitempty"`
}

type expoTicket struct {
	Status  string `json:"status"`
	ID      string `json:"id"`
	Message string `json:"message"`
	Details struct {
		Error string `json:"error"`
	} `json:"details"`
}

// sendExpo sends every token in one request and reads one ticket per
// token. A request-level failure is returned as the error.
func (d *Deliverer) sendExpo(ctx context.Context, base string, p config.Provider, n *Notification, tokens []string) ([]fanout.Outcome, error) {
	msgs := make([]expoMessage, len(tokens))
	for i, t := range tokens {
		msgs[i] = expoMessage{To: t, Title: n.Title, Body: n.Body, Data: n.Data}
	}
	body, _ := json.Marshal(msgs)
	req, _ := http.NewRequest(http.MethodPost, base+"/--/api/v2/push/send", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if tok := p.Secret("access_token_env"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := httpx.Do(ctx, d.http, req, "expo")
	if err != nil {
		return nil, err
	}
	var out struct {
		Data   []expoTicket `json:"data"`
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(resp.Body, &out)
	if resp.Status != http.StatusOK || len(out.Data) != len(tokens) {
		detail := ""
		if len(out.Errors) > 0 {
			detail = out.Errors[0].Code + ": " + httpx.Short(out.Errors[0].Message)
		}
		if resp.Status == http.StatusOK {
			return nil, channel.Retryable(channel.CodeDelivery, 0, "expo: answered %d tickets for %d tokens", len(out.Data), len(tokens))
		}
		return nil, httpx.Status(resp, "expo", detail)
	}
	res := resp.Result()
	outcomes := make([]fanout.Outcome, len(tokens))
	for i, t := range out.Data {
		o := fanout.Outcome{Recipient: tokens[i], Result: res, ProviderID: t.ID}
		if t.Status != "ok" {
			o.Err = classifyExpoTicket(t)
		}
		outcomes[i] = o
	}
	return outcomes, nil
}

func classifyExpoTicket(t expoTicket) error {
	msg := httpx.Short(t.Message)
	switch t.Details.Error {
	case "DeviceNotRegistered":
		return channel.Permanent(channel.CodeInvalidRecipient, "expo: DeviceNotRegistered: %s", msg)
	case "InvalidCredentials":
		return channel.Permanent(channel.CodeSecretExpired, "expo: InvalidCredentials: %s", msg)
	case "MessageRateExceeded":
		return channel.Retryable(channel.CodeDelivery, 0, "expo: MessageRateExceeded: %s", msg)
	}
	return channel.Permanent(channel.CodeDelivery, "expo: %s: %s", cmpOr(t.Details.Error, "error"), msg)
}
