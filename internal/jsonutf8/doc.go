// Package jsonutf8 finds where a JSON document stops being valid UTF-8.
//
// encoding/json accepts invalid UTF-8 inside strings (it turns the bytes
// into U+FFFD when decoding into a string, and keeps them as they are in a
// json.RawMessage). Herald keeps a send's input as received and serves it
// back, so an invalid byte stored once would make every strict JSON client
// fail on the whole page that contains it. Bodies are therefore refused at
// the door, with the JSON path of the value (or member name) that holds
// the first invalid byte, in the same form as every other field error
// ("input.params.id", "input.recipients[2]").
package jsonutf8
