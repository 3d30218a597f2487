// Package api is Herald's HTTP surface (API.md): authentication by Bearer
// key and scope, request ids, body limits, decoding, one call into a part,
// encoding, and the single mapping of errors to status codes (errors.go).
// It holds no business rules.
package api
