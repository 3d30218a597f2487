package callback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (https://www.standardwebhooks.com/) headers.
const (
	headerWebhookID        = "webhook-id"
	headerWebhookTimestamp = "webhook-timestamp"
	headerWebhookSignature = "webhook-signature"
)

// secretPrefix marks a Standard Webhooks secret: the key is the base64
// after it.
const secretPrefix = "whsec_"

// signingKey returns the HMAC key of a secret: the base64-decoded tail
// of a whsec_ secret, or the secret's own bytes.
func signingKey(secret []byte) ([]byte, error) {
	s, ok := strings.CutPrefix(string(secret), secretPrefix)
	if !ok {
		return secret, nil
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(key) == 0 {
		// Never the secret itself in the message.
		return nil, errors.New("the callback's signing secret starts with whsec_ but is not base64 after it")
	}
	return key, nil
}

// sign sets the Standard Webhooks headers for one attempt: the signature
// is HMAC-SHA256 over "id.timestamp.body".
func sign(h http.Header, key []byte, id string, ts time.Time, body []byte) {
	unix := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(unix))
	mac.Write([]byte{'.'})
	mac.Write(body)
	h.Set(headerWebhookID, id)
	h.Set(headerWebhookTimestamp, unix)
	h.Set(headerWebhookSignature, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}
