// Package sms is the SMS channel, over two providers:
//
//   - twilio: the Twilio Messages API (POST
//     /2010-04-01/Accounts/{sid}/Messages.json, basic auth with the account
//     SID and auth token, a form body of To, From and Body; a From that
//     starts with "MG" is sent as MessagingServiceSid).
//   - http: any HTTP SMS gateway, from config: url, method, headers and a
//     body template over {To, From, Body, MessageID} with a json function;
//     optional Bearer (access_token_env) or basic (username_env,
//     password_env) authentication.
//
// Prepare renders the definition's body template over the input's `body`
// map and checks the recipients; the producer calls it at accept time.
// Deliver sends one request per recipient; see internal/fanout for how
// their outcomes make the message's (a delivered number is never sent to
// again by a retry).
//
// Classification: Twilio's invalid or unreachable numbers (21211, 21214,
// 21217, 21219, 21610, 21612, 21614) are INVALID_RECIPIENT for that
// number; 20003 and other 401/403 answers are SECRET_EXPIRED; 429 (20429)
// and 5xx are retried honouring Retry-After; other 4xx are permanent. The
// http provider: 2xx sent; 401/403 SECRET_EXPIRED; 408, 425, 429 and 5xx
// retried; other statuses permanent DELIVERY_ERROR.
package sms
