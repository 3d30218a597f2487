// Package callback is the HTTP callback (webhook) channel: it turns a
// callback definition and a send's input into an HTTP request, signs it
// per Standard Webhooks when the definition has a secret, sends it through
// the SSRF guard of internal/netguard and classifies the answer.
//
// Prepare is pure: the producer calls it when a send is accepted, so bad
// input is a 400 before anything is queued, and Deliver calls it again for
// each attempt. Deliver owns one shared HTTP client whose pool keeps
// connections alive per host; every connection, redirects included, is
// dialed through the guard, and no environment proxy is ever used.
//
// Classification of one attempt (errors are *channel.Error):
//
//   - 2xx: delivered.
//   - 408, 425, 429, 5xx: retryable DELIVERY_ERROR, with Retry-After
//     (seconds or HTTP date, at most 1h) as RetryAfter.
//   - 401, 403: permanent SECRET_EXPIRED, the endpoint refused our
//     credentials or signature.
//   - 410: permanent INVALID_RECIPIENT, the endpoint is gone.
//   - other 4xx, and a 3xx left after the redirect limit: permanent
//     DELIVERY_ERROR.
//   - an address refused by the guard: permanent DELIVERY_ERROR.
//   - a timeout: retryable TIMEOUT; any other transport failure
//     (refused, reset, DNS): retryable DELIVERY_ERROR.
//   - input that no longer fills the definition: permanent TEMPLATE_ERROR.
//
// Error messages name the endpoint's host and the status, never header
// values, the signing secret or the URL's query.
package callback
