// Package reqid carries the id of an API request through a context, so
// that every part's log lines for one request share it (api sets it;
// producer logs it and puts it on the job; the worker logs it with the
// delivery).
package reqid
