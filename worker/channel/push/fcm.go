package push

import (
	"bytes"
	"context"
	"crypto/rsa"
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

const (
	fcmScope        = "https://www.googleapis.com/auth/firebase.messaging"
	defaultTokenURI = "https://oauth2.googleapis.com/token"
	// tokenMargin: a cached OAuth token is renewed this long before it expires.
	tokenMargin = time.Minute
)

// serviceAccount is the part of a Google service account JSON key we use.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// fcmClient is one FCM provider: its service account and cached token.
type fcmClient struct {
	project  string
	email    string
	keyID    string
	key      *rsa.PrivateKey
	tokenURI string
	now      func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

func newFCMClient(p config.Provider, now func() time.Time) (*fcmClient, error) {
	raw, err := readSecret(p.Secret("credentials_file_env"), func(s string) bool { return strings.HasPrefix(s, "{") })
	if err != nil {
		return nil, fmt.Errorf("credentials (%s): %w", p.CredentialsFileEnv, err)
	}
	var sa serviceAccount
	if err := json.Unmarshal(raw, &sa); err != nil {
		return nil, fmt.Errorf("credentials (%s) are not a service account JSON key", p.CredentialsFileEnv)
	}
	if sa.ClientEmail == "" || sa.PrivateKey == "" {
		return nil, fmt.Errorf("credentials (%s) lack client_email or private_key", p.CredentialsFileEnv)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(sa.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("credentials (%s): private_key is not an RSA key in PEM", p.CredentialsFileEnv)
	}
	c := &fcmClient{project: p.ProjectID, email: sa.ClientEmail, keyID: sa.PrivateKeyID, key: key, tokenURI: sa.TokenURI, now: now}
	if c.project == "" {
		c.project = sa.ProjectID
	}
	if c.project == "" {
		return nil, fmt.Errorf("no project_id in the provider or the credentials (%s)", p.CredentialsFileEnv)
	}
	if c.tokenURI == "" {
		c.tokenURI = defaultTokenURI
	}
	if u, err := url.Parse(c.tokenURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("credentials (%s): token_uri is not an http(s) URL", p.CredentialsFileEnv)
	}
	return c, nil
}

// accessToken returns the cached OAuth token, or exchanges a new signed
// assertion for one. fresh forces the exchange.
func (c *fcmClient) accessToken(ctx context.Context, hc *http.Client, fresh bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !fresh && c.token != "" && now.Before(c.expires.Add(-tokenMargin)) {
		return c.token, nil
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": c.email, "scope": fcmScope, "aud": c.tokenURI,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if c.keyID != "" {
		t.Header["kid"] = c.keyID
	}
	assertion, err := t.SignedString(c.key)
	if err != nil {
		return "", channel.Permanent(channel.CodeDelivery, "fcm: cannot sign the token request: %v", err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	req, _ := http.NewRequest(http.MethodPost, c.tokenURI, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpx.Do(ctx, hc, req, "fcm token endpoint")
	if err != nil {
		return "", err
	}
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(resp.Body, &body)
	switch {
	case resp.Status == http.StatusOK && body.AccessToken != "":
	case resp.Status == http.StatusBadRequest || resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		// invalid_grant (bad signature, deleted key, wrong clock), invalid_client...
		return "", channel.Permanent(channel.CodeSecretExpired, "fcm token endpoint refused the service account (%s): %s", cmpOr(body.Error, fmt.Sprint(resp.Status)), httpx.Short(body.Description))
	case resp.Status == http.StatusOK:
		return "", channel.Retryable(channel.CodeDelivery, 0, "fcm token endpoint answered without an access_token")
	default:
		return "", httpx.Status(resp, "fcm token endpoint", httpx.Short(body.Description))
	}
	c.token = body.AccessToken
	c.expires = now.Add(time.Duration(max(body.ExpiresIn, 60)) * time.Second)
	return c.token, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fcmError is the error body of the HTTP v1 API.
type fcmError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

// send delivers to one registration token, renewing the OAuth token once
// when FCM says ours is no longer valid.
func (c *fcmClient) send(ctx context.Context, hc *http.Client, base string, n *Notification, token string) fanout.Outcome {
	o := fanout.Outcome{Recipient: token}
	msg := map[string]any{"token": token}
	if n.Title != "" || n.Body != "" {
		msg["notification"] = map[string]string{"title": n.Title, "body": n.Body}
	}
	if d := n.stringData(); d != nil {
		msg["data"] = d
	}
	payload, _ := json.Marshal(map[string]any{"message": msg})
	endpoint := base + "/v1/projects/" + url.PathEscape(c.project) + "/messages:send"
	for try := 0; ; try++ {
		access, err := c.accessToken(ctx, hc, try > 0)
		if err != nil {
			o.Err = err
			return o
		}
		req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(payload))
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		resp, err := httpx.Do(ctx, hc, req, "fcm")
		if err != nil {
			o.Err = err
			return o
		}
		o.Result = resp.Result()
		if resp.Status == http.StatusOK {
			var ok struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(resp.Body, &ok)
			o.ProviderID = ok.Name
			return o
		}
		var fe fcmError
		_ = json.Unmarshal(resp.Body, &fe)
		if resp.Status == http.StatusUnauthorized && try == 0 {
			continue // our cached token may have been revoked: one fresh try
		}
		o.Err = classifyFCM(resp, &fe)
		return o
	}
}

func classifyFCM(resp *httpx.Response, fe *fcmError) error {
	code := fe.Error.Status
	tokenProblem := false
	for _, d := range fe.Error.Details {
		if strings.HasSuffix(d.Type, "FcmError") && d.ErrorCode != "" {
			code = d.ErrorCode
		}
		for _, v := range d.FieldViolations {
			tokenProblem = tokenProblem || v.Field == "message.token"
		}
	}
	detail := code
	if m := httpx.Short(fe.Error.Message); m != "" {
		detail += ": " + m
	}
	tokenProblem = tokenProblem || strings.Contains(strings.ToLower(fe.Error.Message), "registration token")
	switch {
	case code == "UNREGISTERED":
		return channel.Permanent(channel.CodeInvalidRecipient, "fcm: HTTP %d %s: the app was uninstalled or the token expired", resp.Status, detail)
	case code == "SENDER_ID_MISMATCH":
		return channel.Permanent(channel.CodeInvalidRecipient, "fcm: HTTP %d %s: the token belongs to another sender", resp.Status, detail)
	case code == "INVALID_ARGUMENT" && tokenProblem:
		return channel.Permanent(channel.CodeInvalidRecipient, "fcm: HTTP %d %s", resp.Status, detail)
	case code == "UNAUTHENTICATED", code == "THIRD_PARTY_AUTH_ERROR", code == "PERMISSION_DENIED":
		return channel.Permanent(channel.CodeSecretExpired, "fcm: HTTP %d %s: the provider rejected our credentials", resp.Status, detail)
	case code == "QUOTA_EXCEEDED", code == "UNAVAILABLE", code == "INTERNAL":
		return channel.Retryable(channel.CodeDelivery, httpx.RetryAfter(resp.Header), "fcm: HTTP %d %s", resp.Status, detail)
	}
	if detail == "" {
		return httpx.Status(resp, "fcm", "")
	}
	return httpx.Status(resp, "fcm", detail)
}
