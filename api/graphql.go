package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/logstore"
)

// graphqlSchema is the GraphQL surface (API.md, "POST /graphql").
const graphqlSchema = `
schema { query: Query }

type Query {
  "Messages that were not delivered: failed ones, and ones waiting for a retry or held by an open circuit breaker. Newest first. limit: at most 10, default 10."
  undeliveredNotifications(limit: Int, cursor: String, filters: UndeliveredFilters): UndeliveredNotifications!
}

input UndeliveredFilters {
  "The notification tag."
  eventType: String
  creationDateTime: DateTimeRange
}

input DateTimeRange {
  from: DateTime
  to: DateTime
  "Default INCLUSIVE."
  operator: RangeOperator
}

enum RangeOperator { INCLUSIVE EXCLUSIVE }

type UndeliveredNotifications {
  totalCount: Int!
  "Pass to the next call; empty when there are no more pages."
  cursor: String!
  elements: [UndeliveredNotification!]!
}

type UndeliveredNotification {
  notification: Notification!
  error: DeliveryError!
}

type Notification {
  eventType: String!
  creationDateTime: String!
  notificationId: ID!
  "The send's input, as JSON."
  payload: JSON!
  channel: String!
  status: String!
}

type DeliveryError {
  code: ErrorCode!
  message: String!
}

enum ErrorCode { DELIVERY_ERROR SECRET_EXPIRED INVALID_RECIPIENT TEMPLATE_ERROR CIRCUIT_OPEN TIMEOUT }

scalar JSON

"An RFC 3339 time, or Unix milliseconds (as a number or a string)."
scalar DateTime
`

// errorCodes are the GraphQL error codes; any other stored code (such as
// UNAVAILABLE or CANCELLED) is reported as DELIVERY_ERROR.
var errorCodes = []string{"DELIVERY_ERROR", "SECRET_EXPIRED", "INVALID_RECIPIENT", "TEMPLATE_ERROR", "CIRCUIT_OPEN", "TIMEOUT"}

const maxUndeliveredLimit = 10

type gqlRoot struct{ store *logstore.Store }

type principalKey struct{}

type undeliveredArgs struct {
	Limit   *int32
	Cursor  *string
	Filters *struct {
		EventType        *string
		CreationDateTime *struct {
			From     *dateTime
			To       *dateTime
			Operator *string
		}
	}
}

// gqlError is a GraphQL error with the API's code and field in extensions.
type gqlError struct {
	code, field, msg string
}

func (e *gqlError) Error() string { return e.msg }

func (e *gqlError) Extensions() map[string]any {
	ext := map[string]any{"code": e.code}
	if e.field != "" {
		ext["field"] = e.field
	}
	return ext
}

func (r *gqlRoot) UndeliveredNotifications(ctx context.Context, args undeliveredArgs) (*gqlPage, error) {
	p, _ := ctx.Value(principalKey{}).(*config.Principal)
	if p == nil {
		return nil, &gqlError{code: "unauthenticated", msg: "unauthenticated"}
	}
	q := logstore.Query{Workspace: p.Workspace, Undelivered: true, Limit: maxUndeliveredLimit, InputLimit: ListInputBytes}
	if args.Limit != nil {
		if *args.Limit < 1 || *args.Limit > maxUndeliveredLimit {
			return nil, &gqlError{code: "invalid_argument", field: "limit", msg: fmt.Sprintf("limit must be between 1 and %d", maxUndeliveredLimit)}
		}
		q.Limit = int(*args.Limit)
	}
	if args.Cursor != nil {
		q.Cursor = *args.Cursor
	}
	if f := args.Filters; f != nil {
		if f.EventType != nil && *f.EventType != "" {
			if !config.ValidTag(*f.EventType) {
				return nil, &gqlError{code: "invalid_argument", field: "filters.eventType", msg: "eventType is a notification tag"}
			}
			q.NotificationTag = *f.EventType
		}
		if c := f.CreationDateTime; c != nil {
			exclusive := c.Operator != nil && *c.Operator == "EXCLUSIVE"
			if c.From != nil {
				t, err := c.From.time()
				if err != nil {
					return nil, &gqlError{code: "invalid_argument", field: "filters.creationDateTime.from", msg: err.Error()}
				}
				if exclusive {
					t = t.Add(time.Millisecond)
				}
				q.Start = t
			}
			if c.To != nil {
				t, err := c.To.time()
				if err != nil {
					return nil, &gqlError{code: "invalid_argument", field: "filters.creationDateTime.to", msg: err.Error()}
				}
				if exclusive {
					t = t.Add(-time.Millisecond)
				}
				q.End = t
			}
			if !q.Start.IsZero() && !q.End.IsZero() && q.Start.After(q.End) {
				return nil, &gqlError{code: "invalid_argument", field: "filters.creationDateTime", msg: "from is after to"}
			}
		}
	}
	page, err := r.store.Query(ctx, q)
	if errors.Is(err, logstore.ErrBadCursor) {
		return nil, &gqlError{code: "invalid_argument", field: "cursor", msg: "not a cursor this server made"}
	}
	if err != nil {
		return nil, &gqlError{code: "unavailable", msg: "the log store is unavailable"}
	}
	return &gqlPage{page: page}, nil
}

type gqlPage struct{ page *logstore.Page }

func (p *gqlPage) TotalCount() int32 { return int32(min(p.page.Total, 1<<31-1)) }

func (p *gqlPage) Cursor() string { return p.page.NextCursor }

func (p *gqlPage) Elements() []*gqlElement {
	out := make([]*gqlElement, 0, len(p.page.Entries))
	for _, e := range p.page.Entries {
		out = append(out, &gqlElement{e})
	}
	return out
}

type gqlElement struct{ e *logstore.Entry }

func (el *gqlElement) Notification() *gqlNotification { return &gqlNotification{el.e} }

func (el *gqlElement) Error() *gqlDeliveryError { return &gqlDeliveryError{el.e} }

type gqlNotification struct{ e *logstore.Entry }

func (n *gqlNotification) EventType() string        { return n.e.NotificationTag }
func (n *gqlNotification) CreationDateTime() string { return formatTime(n.e.CreatedAt) }
func (n *gqlNotification) NotificationId() graphql.ID {
	return graphql.ID(n.e.ID)
}
func (n *gqlNotification) Payload() jsonScalar { return jsonScalar(toLogEntry(n.e).Input) }
func (n *gqlNotification) Channel() string     { return n.e.Type }
func (n *gqlNotification) Status() string      { return n.e.Status }

type gqlDeliveryError struct{ e *logstore.Entry }

func (d *gqlDeliveryError) Code() string {
	if slices.Contains(errorCodes, d.e.ErrorCode) {
		return d.e.ErrorCode
	}
	return "DELIVERY_ERROR"
}

func (d *gqlDeliveryError) Message() string { return d.e.Error }

// jsonScalar is the JSON scalar: any JSON value, passed through.
type jsonScalar json.RawMessage

func (jsonScalar) ImplementsGraphQLType(name string) bool { return name == "JSON" }

func (j *jsonScalar) UnmarshalGraphQL(input any) error {
	b, err := json.Marshal(input)
	*j = b
	return err
}

func (j jsonScalar) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// dateTime is the DateTime scalar: RFC 3339 or Unix milliseconds.
type dateTime struct{ raw string }

func (dateTime) ImplementsGraphQLType(name string) bool { return name == "DateTime" }

func (d *dateTime) UnmarshalGraphQL(input any) error {
	switch v := input.(type) {
	case string:
		d.raw = v
	case float64:
		d.raw = strconv.FormatFloat(v, 'f', -1, 64)
	case int32:
		d.raw = strconv.FormatInt(int64(v), 10)
	case int64:
		d.raw = strconv.FormatInt(v, 10)
	default:
		return fmt.Errorf("DateTime: want an RFC 3339 string or Unix milliseconds")
	}
	return nil
}

func (d *dateTime) time() (time.Time, error) { return ParseTime(d.raw) }

// newGraphQL parses the schema once at start.
func newGraphQL(store *logstore.Store) *graphql.Schema {
	return graphql.MustParseSchema(graphqlSchema, &gqlRoot{store: store},
		graphql.UseFieldResolvers(), graphql.MaxDepth(12), graphql.MaxParallelism(4))
}

type graphqlRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// graphqlHandler is POST /graphql (and GET with ?query=).
func (s *Server) graphqlHandler(w http.ResponseWriter, r *http.Request, p *config.Principal) error {
	var req graphqlRequest
	if r.Method == http.MethodGet {
		for name, vals := range r.URL.Query() {
			for _, v := range vals {
				if !utf8.ValidString(v) {
					return badRequest(strings.ToValidUTF8(name, "\ufffd"), "not valid UTF-8")
				}
			}
		}
		req.Query = r.URL.Query().Get("query")
		req.OperationName = r.URL.Query().Get("operationName")
		if v := r.URL.Query().Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				return badRequest("variables", "want a JSON object")
			}
		}
	} else {
		body, err := s.readBody(w, r)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return badRequest("", "want a JSON body {\"query\": ..., \"variables\": {...}}")
		}
	}
	if req.Query == "" {
		return badRequest("query", "required")
	}
	ctx := context.WithValue(r.Context(), principalKey{}, p)
	writeJSON(w, http.StatusOK, s.graphql.Exec(ctx, req.Query, req.OperationName, req.Variables))
	return nil
}
