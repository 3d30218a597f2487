// Package logstore owns every Redis key and Lua script of Herald: log
// entries, delivery attempts, the query indexes, idempotency tags and
// retention. Nothing outside this package builds a Redis key or sees a
// Redis type.
//
// Layout (all keys of a workspace share the hash tag {ws}, so every script
// stays on one Redis Cluster shard; see keys.go):
//
//   - entry: one string per message, "<state line>\n<header JSON>\n<input
//     JSON>", with a TTL of the retention: transitions rewrite only the
//     state line (entry.go); the header JSON is written once.
//   - attempts: a capped list of attempt JSON per message, same TTL.
//   - sequence: each entry gets the next sequence number of its workspace
//     at creation; created_at is made monotonic in that order. Sequence
//     space is cut into segments of 65536; per segment a record string
//     holds the id and created_at of each position (34 bytes), and one
//     bitmap per filter term ("st:sent", "env:prd", ...) has the
//     position's bit set when the entry matches.
//   - process_id and campaign_id: sorted sets of ids scored by sequence.
//
// A query turns its date range into a sequence range (binary search over
// the records), ANDs the bitmaps of its filters, counts the total with
// BITCOUNT and scans backwards for the page: its cost depends on the
// number of segments in range, not on the number of matching entries or
// on the page's depth.
package logstore
