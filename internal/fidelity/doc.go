// Package fidelity holds tests that drive Herald the way users' own tools
// do: independent clients written by other people (the official Standard
// Webhooks verifier, a JSON Schema 2020-12 validator, graphql-js), run by
// Node.js from package.json/package-lock.json in this folder. Each test
// starts Herald in-process on loopback, makes real requests, and hands what
// it received to a script in js/ that answers with JSON on stdout.
//
// The package has no non-test code; it exists so these checks have one home
// and one lockfile.
package fidelity
