package producer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/config"
)

// UnauthenticatedError is a send whose session does not verify: the API
// answers 401 unauthenticated with Field "session".
type UnauthenticatedError struct {
	Field   string
	Message string
}

func (e *UnauthenticatedError) Error() string { return e.Field + ": " + e.Message }

func unauthenticated(format string, args ...any) *UnauthenticatedError {
	return &UnauthenticatedError{Field: "session", Message: fmt.Sprintf(format, args...)}
}

// maxSession bounds the session string (tag and token).
const maxSession = 8192

// checkSession parses "session_tag:jwt" and returns the tag, the only part
// ever stored. A product without sessions records the tag unverified; a
// product with sessions verifies the token with the session of that tag.
func checkSession(prod *config.Product, session string, now time.Time) (string, error) {
	if len(session) > maxSession {
		return "", invalid("session", "at most %d characters", maxSession)
	}
	tag, token, ok := strings.Cut(session, ":")
	if !ok {
		// A bare token would otherwise be stored, and shown, as the tag.
		return "", invalid("session", "want session_tag:token; this session has no tag (no ':')")
	}
	if !config.ValidTag(tag) {
		return "", invalid("session", "want session_tag:token, where the tag is 1-64 letters, digits, '_', '.' or '-'")
	}
	if len(prod.Sessions) == 0 {
		return tag, nil
	}
	s := prod.SessionFor(tag)
	if s == nil {
		return "", unauthenticated("no session %q is configured for product %q", tag, prod.Tag)
	}
	if token == "" {
		return "", unauthenticated("session %q needs a token: want %s:<jwt>", tag, tag)
	}
	if err := verifyJWT(s, token, now); err != nil {
		return "", err
	}
	return tag, nil
}

func verifyJWT(s *config.Session, token string, now time.Time) error {
	var methods []string
	if s.HS256Key() != nil {
		methods = append(methods, "HS256")
	}
	if s.RS256Key() != nil {
		methods = append(methods, "RS256")
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithTimeFunc(func() time.Time { return now })}
	if s.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(s.Issuer))
	}
	if s.Audience != "" {
		opts = append(opts, jwt.WithAudience(s.Audience))
	}
	claims := jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case "HS256":
			return s.HS256Key(), nil
		case "RS256":
			return s.RS256Key(), nil
		}
		return nil, errors.New("unexpected alg")
	}, opts...)
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthenticated("session %q: the token is not a JWT", s.Tag)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return unauthenticated("session %q: the token's signature does not verify (this session accepts %s)", s.Tag, strings.Join(methods, ", "))
	case errors.Is(err, jwt.ErrTokenExpired):
		at := "in the past"
		if claims.ExpiresAt != nil {
			at = claims.ExpiresAt.UTC().Format(time.RFC3339)
		}
		return unauthenticated("session %q: the token expired (exp %s)", s.Tag, at)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return unauthenticated("session %q: the token is not valid yet (nbf/iat in the future)", s.Tag)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return unauthenticated("session %q: the token's issuer is not %q", s.Tag, s.Issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return unauthenticated("session %q: the token's audience does not include %q", s.Tag, s.Audience)
	}
	return unauthenticated("session %q: the token does not verify", s.Tag)
}
