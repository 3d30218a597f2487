// Package console serves Herald's web console: static HTML, CSS and
// JavaScript modules embedded in the binary, mounted by the API at
// /console. The console holds no server-side state and no secret: the
// browser signs in with an API key kept in sessionStorage and calls the
// JSON API with it as a Bearer header, so a key sees in the console exactly
// what it may see and do through the API.
package console
