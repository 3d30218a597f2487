package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/heraldhq/herald/internal/jsonutf8"
)

// SendRequest is the body of POST /v1/notifications/{channel}/send.
type SendRequest struct {
	Product      string          `json:"product"`
	Env          string          `json:"env"`
	Notification string          `json:"notification"`
	Input        json.RawMessage `json:"input"`
	Session      string          `json:"session"`
	Cache        string          `json:"cache"`
	Retries      *int            `json:"retries"`
}

// InvalidError is a request that cannot be accepted, with the JSON path of
// the offending field. Code is "invalid_argument" unless a more specific
// code applies (such as "TEMPLATE_ERROR").
type InvalidError struct {
	Code    string
	Field   string
	Message string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func invalid(field, format string, args ...any) *InvalidError {
	return &InvalidError{Code: "invalid_argument", Field: field, Message: fmt.Sprintf(format, args...)}
}

// DecodeSend parses a send body strictly: one JSON object, known fields
// only, right types. Every failure is an *InvalidError naming the field.
func DecodeSend(body []byte) (*SendRequest, error) {
	var req SendRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// DecodeStrict decodes exactly one JSON object into v as the send
// decoders do; every failure is an *InvalidError naming the field.
func DecodeStrict(body []byte, v any) error { return decodeStrict(body, v) }

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields and trailing data, and turns decoder errors into *InvalidError.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("", "request body is empty; want a JSON object")
	}
	if err := CheckUTF8(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("", "request body has data after the JSON object")
	}
	return nil
}

// CheckUTF8 refuses a body that is not valid UTF-8, naming the field that
// holds the first invalid byte: encoding/json would accept it, and the
// input, kept as received, would be served back raw to every reader.
func CheckUTF8(body []byte) error {
	field, off, ok := jsonutf8.Check(body)
	if ok {
		return nil
	}
	if field == "" {
		return invalid("", "request body is not valid UTF-8 (byte %d)", off)
	}
	return invalid(field, "not valid UTF-8 (byte %d of the body); JSON text must be UTF-8", off)
}

func jsonError(err error) *InvalidError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return invalid("", "malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return invalid("", "request body must be a JSON object, not %s", typ.Value)
		}
		return invalid(field, "want %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalid("", "malformed JSON: unexpected end of input")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return invalid(name, "unknown field %q", name)
	}
	return invalid("", "malformed JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return k
}
