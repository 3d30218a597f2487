// Package email is the SMTP email channel. Prepare turns an email
// definition and a send's input ({recipients, subject, template}) into a
// message, rendering the definition's templates (subject and text with
// text/template, HTML with html/template) over the input's maps; the
// producer calls it at accept time so a template that fails for the input
// is a 400 TEMPLATE_ERROR, never a failure found later. Deliver sends it
// over SMTP: implicit TLS (port 465) or STARTTLS, AUTH PLAIN or LOGIN, one
// transaction with every recipient, a MIME multipart/alternative body
// (text and HTML, quoted-printable).
//
// Recipients: every recipient is given in one transaction (and in the To
// header). A recipient the server refuses for good at RCPT (5xx) is
// recorded in the attempt and the others still get the message; if none
// is accepted the message fails with INVALID_RECIPIENT. A recipient the
// server defers (4xx) makes the attempt abort before DATA, so nobody got
// anything and the whole message is retried: no recipient ever receives a
// duplicate because another one was deferred.
//
// Classification: 535/534/530/538 (authentication) are permanent
// SECRET_EXPIRED; 454 and other 4xx replies, timeouts and connection
// failures are retryable; other 5xx replies are permanent DELIVERY_ERROR;
// a server certificate that does not verify is permanent. Passwords never
// appear in errors or logs.
package email
