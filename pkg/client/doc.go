// Package client is the Go SDK of Herald's HTTP API (API.md): sends on one
// channel or several, scheduled dispatches and their jobs, the send log
// (queries with a cursor iterator, attempts, reprocessing, send logs, the
// undelivered notifications of the GraphQL API).
//
// Every call takes a context; every API error is an *Error whose Code is the
// API's error code, and errors.Is matches it against the sentinels
// (ErrNotFound, ErrInvalidArgument, ...):
//
//	c, err := client.New("https://herald.internal", os.Getenv("HERALD_KEY"))
//	res, err := c.Send(ctx, client.Callback, client.SendRequest{
//		Product: "shop", Env: "prd", Notification: "orders:confirmation",
//		Input: client.CallbackInput{Params: map[string]any{"id": "123"}},
//	})
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.Field != "" { ... }
//
// The package imports nothing of Herald's internals: it is what an outside
// Go program uses.
package client
