package push

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/worker/channel"
	"github.com/heraldhq/herald/worker/channel/internal/fanout"
	"github.com/heraldhq/herald/worker/channel/internal/httpx"
)

// apnsTokenLife is how long a provider token is reused: Apple refuses one
// older than an hour and throttles renewals more often than every 20 min.
const apnsTokenLife = 50 * time.Minute

// apnsClient is one APNs provider: its .p8 key and current JWT.
type apnsClient struct {
	key    *ecdsa.PrivateKey
	keyID  string
	teamID string
	topic  string
	now    func() time.Time

	mu     sync.Mutex
	token  string
	issued time.Time
}

func newAPNsClient(p config.Provider, now func() time.Time) (*apnsClient, error) {
	raw, err := readSecret(p.Secret("key_file_env"), func(s string) bool { return strings.HasPrefix(s, "-----BEGIN") })
	if err != nil {
		return nil, fmt.Errorf("key (%s): %w", p.KeyFileEnv, err)
	}
	key, err := jwt.ParseECPrivateKeyFromPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("key (%s) is not an ES256 .p8 key in PEM", p.KeyFileEnv)
	}
	return &apnsClient{key: key, keyID: p.KeyID, teamID: p.TeamID, topic: p.Topic, now: now}, nil
}

// providerToken returns the current JWT, signing a new one when it is
// older than apnsTokenLife or fresh is set.
func (c *apnsClient) providerToken(fresh bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !fresh && c.token != "" && now.Sub(c.issued) < apnsTokenLife {
		return c.token, nil
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": c.teamID, "iat": now.Unix()})
	t.Header["kid"] = c.keyID
	s, err := t.SignedString(c.key)
	if err != nil {
		return "", channel.Permanent(channel.CodeDelivery, "apns: cannot sign the provider token: %v", err)
	}
	c.token, c.issued = s, now
	return s, nil
}

// send delivers to one device token, with a fresh provider token once when
// APNs says ours expired.
func (c *apnsClient) send(ctx context.Context, hc *http.Client, base string, n *Notification, token string) fanout.Outcome {
	o := fanout.Outcome{Recipient: token}
	payload := map[string]any{}
	for k, v := range n.Data {
		payload[k] = v
	}
	alert := map[string]string{}
	if n.Title != "" {
		alert["title"] = n.Title
	}
	if n.Body != "" {
		alert["body"] = n.Body
	}
	payload["aps"] = map[string]any{"alert": alert}
	body, _ := json.Marshal(payload)
	endpoint := base + "/3/device/" + url.PathEscape(token)
	for try := 0; ; try++ {
		jwtToken, err := c.providerToken(try > 0)
		if err != nil {
			o.Err = err
			return o
		}
		req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
		req.Header.Set("authorization", "bearer "+jwtToken)
		req.Header.Set("apns-topic", c.topic)
		req.Header.Set("apns-push-type", "alert")
		req.Header.Set("apns-priority", "10")
		req.Header.Set("content-type", "application/json")
		resp, err := httpx.Do(ctx, hc, req, "apns")
		if err != nil {
			o.Err = err
			return o
		}
		o.Result = resp.Result()
		if resp.Status == http.StatusOK {
			o.ProviderID = resp.Header.Get("apns-id")
			return o
		}
		var e struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(resp.Body, &e)
		if e.Reason == "ExpiredProviderToken" && try == 0 {
			continue
		}
		o.Err = classifyAPNs(resp, e.Reason)
		return o
	}
}

func classifyAPNs(resp *httpx.Response, reason string) error {
	switch reason {
	case "BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic", "MissingDeviceToken":
		return channel.Permanent(channel.CodeInvalidRecipient, "apns: HTTP %d %s", resp.Status, reason)
	case "ExpiredProviderToken", "InvalidProviderToken", "MissingProviderToken", "Forbidden", "BadCertificate", "BadCertificateEnvironment":
		return channel.Permanent(channel.CodeSecretExpired, "apns: HTTP %d %s: APNs rejected our provider token (key_file_env, key_id, team_id)", resp.Status, reason)
	case "TooManyRequests", "TooManyProviderTokenUpdates", "InternalServerError", "ServiceUnavailable", "Shutdown":
		return channel.Retryable(channel.CodeDelivery, httpx.RetryAfter(resp.Header), "apns: HTTP %d %s", resp.Status, reason)
	case "BadTopic", "TopicDisallowed":
		return channel.Permanent(channel.CodeDelivery, "apns: HTTP %d %s: check the provider's topic", resp.Status, reason)
	}
	return httpx.Status(resp, "apns", httpx.Short(reason))
}
