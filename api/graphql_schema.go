package api

import (
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// graphqlSDL is the GraphQL surface (API.md, "POST /graphql"). The type
// names, nullability and descriptions are the seed's
// (seeds/undelivered-notifications-graphql.txt), so that code generated or
// written against it works unchanged; what Herald adds (limit in the
// answer, channel and status, the error codes beyond the seed's two) only
// adds fields.
const graphqlSDL = `
"""
Herald's GraphQL API: the notifications that were not delivered, and why.
Scope notifications:read; every answer holds only the caller's workspace.
"""
schema { query: Query }

type Query {
  """
  Retrieves undelivered notifications for a given event type, including the
  reason for the failure: failed messages, and ones waiting for a retry or
  held by an open circuit breaker. Newest first.
  """
  undeliveredNotifications(
    "Maximum number of notifications to be retrieved (up to 10; more is taken as 10). Default 10."
    limit: Int
    "Cursor value for this set of results (the cursor of the previous page)."
    cursor: String
    "Event type and creation date range to use to filter results."
    filters: UndeliveredNotificationsFiltersInput!
  ): UndeliveredNotificationsResponse
}

"Event type and creation date range to use to filter results."
input UndeliveredNotificationsFiltersInput {
  "Event type: the notification tag."
  eventType: String
  "Creation date and time of the notification."
  creationDateTime: DateTimeRangeFilterInput
}

"Date and time range."
input DateTimeRangeFilterInput {
  "Beginning date of the date range."
  from: DateTime!
  "Ending date of the date range."
  to: DateTime!
  "Whether the dates are inclusive or exclusive of the to/from dates. Default INCLUSIVE."
  operator: RangeOperator = INCLUSIVE
}

"Values that indicate whether the specified dates are inclusive or exclusive."
enum RangeOperator {
  "Includes messages or message threads that occurred on the specified dates in the results."
  INCLUSIVE
  "Excludes messages or message threads that occurred on the specified dates in the results."
  EXCLUSIVE
}

"Number of undelivered notifications and details of each."
type UndeliveredNotificationsResponse {
  "Total number of notifications that could not be delivered."
  totalCount: Int!
  "Value of the cursor of the last notification in the current page (empty if no more pages are available)."
  cursor: String
  "List of undelivered notifications."
  elements: [UndeliveredNotification!]!
  "The page size used: the limit asked for, at most 10."
  limit: Int!
}

"Undelivered notification and the reason why it could not be delivered."
type UndeliveredNotification {
  "Payload of the notification."
  notification: Notification!
  "Error that encountered when attempting to deliver the notification."
  error: NotificationError
}

"Notification details."
type Notification {
  "Event type: the notification tag."
  eventType: String!
  "Creation date and time of the notification."
  creationDateTime: DateTime!
  "Notification identifier: the message id."
  notificationId: String!
  "Notification payload: the send's input (an input longer than 16 KiB is a {\"$truncated\": ...} marker; GET /v1/messages/{id} has it in full)."
  payload: JSON!
  "The channel: email, push, sms or callback."
  channel: String!
  "The message's status: failed, or pending/reprocessing while a retry is due."
  status: String!
}

"Details about why the notification could not be delivered."
type NotificationError {
  "Error code. Values include DELIVERY_ERROR, SECRET_EXPIRED (the provider or endpoint rejected our credentials or signing secret), INVALID_RECIPIENT, TEMPLATE_ERROR, CIRCUIT_OPEN and TIMEOUT."
  code: String!
  "Error description."
  message: String!
}

"JSON values as specified by ECMA-404."
scalar JSON

"""
A date-time string at UTC, such as 2007-12-03T10:15:30Z, compliant with the
date-time format outlined in section 5.6 of the RFC 3339 profile of the ISO
8601 standard for representation of dates and times using the Gregorian
calendar. Fractions of a second are kept to the nanosecond on input; output
has milliseconds. Unix milliseconds (a number or a string) are accepted too.
"""
scalar DateTime @specifiedBy(url: "https://scalars.graphql.org/andimarek/date-time")
`

// gqlSchema is the parsed schema, with gqlparser's prelude (the built-in
// scalars and directives and the introspection types, __Type.isOneOf and
// __Directive.isRepeatable included). It is never modified after this.
var gqlSchema = func() *ast.Schema {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "herald.graphql", Input: graphqlSDL})
	if err != nil {
		panic("api: the GraphQL schema does not load: " + err.Error())
	}
	// The prelude declares @defer, which Herald does not implement (its
	// answers are never incremental): introspection does not offer it and
	// validation refuses it as unknown.
	delete(s.Directives, "defer")
	return s
}()
