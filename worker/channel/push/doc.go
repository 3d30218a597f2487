// Package push is the push notification channel, over three providers:
//
//   - fcm: Firebase Cloud Messaging HTTP v1. A service account's key
//     (credentials_file_env: the JSON file's path, or the JSON itself)
//     signs an RS256 JWT that is exchanged at the account's token_uri for
//     an OAuth access token, cached until a minute before it expires.
//   - apns: Apple Push Notification service over HTTP/2 with token
//     authentication: an ES256 JWT from the .p8 key (key_file_env: the
//     file's path or its PEM), key_id and team_id, reused for 50 minutes.
//   - expo: the Expo push API, every token of a send in one request, with
//     an optional access token (access_token_env).
//
// Prepare renders the definition's title and body templates over the
// input's `title` and `body` maps and checks the device tokens; the
// producer calls it at accept time. Deliver sends to each device token
// (FCM and APNs: one request per token, a few at a time).
//
// Classification, per token: a token the provider says is unregistered or
// invalid (FCM UNREGISTERED, SENDER_ID_MISMATCH, INVALID_ARGUMENT about
// the token; APNs BadDeviceToken, Unregistered, DeviceTokenNotForTopic;
// Expo DeviceNotRegistered) is refused for good: INVALID_RECIPIENT. For
// the message: rejected credentials (FCM UNAUTHENTICATED,
// THIRD_PARTY_AUTH_ERROR, an OAuth invalid_grant; APNs
// ExpiredProviderToken, InvalidProviderToken; Expo 401/InvalidCredentials)
// are SECRET_EXPIRED, after one retry with a fresh token when ours may
// simply have expired; 429 and 5xx are retried honouring Retry-After.
// See internal/fanout for how per-token outcomes make the message's:
// tokens that were delivered are never sent to again by a retry.
//
// Clients (credentials, cached tokens) are kept per workspace and
// provider and rebuilt when a config reload changes the provider.
package push
