package logstore

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Key builders. The Lua scripts build the same names from the base passed
// to them; the two must agree:
//
//	<prefix>:{ws}:meta                 hash: seq (next sequence), last (last created_at ms), low (oldest live seq)
//	<prefix>:{ws}:m:<id>               entry string
//	<prefix>:{ws}:a:<id>               attempts list
//	<prefix>:{ws}:c:<sha256(cache)>    idempotency tag -> first id
//	<prefix>:{ws}:q:<segment>          records: 26-byte id + 8-byte created_at per position
//	<prefix>:{ws}:b:<segment>:<term>   bitmap per filter term; "all" marks live entries
//	<prefix>:{ws}:z:proc:<process id>  sorted set id -> seq
//	<prefix>:{ws}:z:camp:<campaign id> sorted set id -> seq
//	<prefix>:{ws}:tmp:<random>         scratch key of one query
//	<prefix>:{ws}:l:<id>               the lease of the delivery under way (claim.lua), PX
//	<prefix>:{ws}:retry:due            sorted set id -> when its next attempt is due, ms (or the pump's lease end)
//	<prefix>:{ws}:ledger               string, short TTL: the ledger checked this Redis recently
//
// The meta hash also holds rec (outcomes and transitions recorded), rb (the
// sequence number when a rollback of Redis was detected: entries below it
// may have lost their outcome) and rbt (when, ms).
//
// Dispatch jobs (jobs.go; docs/ARCHITECTURE.md "Scheduler"):
//
//	<prefix>:{ws}:job:<job id>           hash: the job (status, schedule, send, runs, next, last, ...)
//	<prefix>:{ws}:jobs:due               sorted set job id -> next slot ms (or lease end while claimed)
//	<prefix>:{ws}:jobs:idx:<status|all>  sorted set, all scores 0, job ids in lexical (= creation) order
//	<prefix>:{ws}:jobs:done              sorted set job id -> ms it completed or was cancelled
//	<prefix>:{ws}:jobs:cache:<sha256>    dispatch idempotency tag -> job id
//	<prefix>:{ws}:jobs:fires             sorted set process id -> slot ms, every fire of the workspace
//	<prefix>:{ws}:jobs:fires:<job id>    sorted set process id -> slot ms, the fires of one job
//	<prefix>:{ws}:fire:<process id>      string: the fire record (JSON)
//
// API keys' shared rate limits (ratelimit.go):
//
//	<prefix>:{ws}:rl:<key id>            string: the limit's TAT in µs; expires a minute after the bucket is full
const (
	segmentSize = 65536
	recordSize  = 34
	idLen       = 26
)

type keys struct{ prefix string }

func (k keys) base(ws string) string { return k.prefix + ":{" + ws + "}:" }

func (k keys) meta(ws string) string { return k.base(ws) + "meta" }

func (k keys) entry(ws, id string) string { return k.base(ws) + "m:" + id }

func (k keys) attempts(ws, id string) string { return k.base(ws) + "a:" + id }

func (k keys) cache(ws, tag string) string { return k.base(ws) + k.cacheSuffix(tag) }

// cacheSuffix is the cache key relative to the workspace base.
func (k keys) cacheSuffix(tag string) string {
	sum := sha256.Sum256([]byte(tag))
	return "c:" + hex.EncodeToString(sum[:16])
}

func (k keys) records(ws string, seg int64) string {
	return k.base(ws) + "q:" + strconv.FormatInt(seg, 10)
}

func (k keys) bitmapPattern(ws string, seg int64) string {
	return k.base(ws) + "b:" + strconv.FormatInt(seg, 10) + ":*"
}

// Suffixes of the sorted-set indexes, relative to base.
func procSuffix(pid string) string    { return "z:proc:" + pid }
func campSuffix(cid string) string    { return "z:camp:" + cid }
func term(field, value string) string { return field + ":" + value }

func (k keys) job(ws, id string) string { return k.base(ws) + "job:" + id }

func (k keys) jobsDue(ws string) string { return k.base(ws) + "jobs:due" }

func (k keys) jobsIndex(ws, status string) string { return k.base(ws) + "jobs:idx:" + status }

func (k keys) jobCache(ws, tag string) string {
	sum := sha256.Sum256([]byte(tag))
	return k.base(ws) + "jobs:cache:" + hex.EncodeToString(sum[:16])
}

func (k keys) fires(ws string) string { return k.base(ws) + "jobs:fires" }

func (k keys) jobFires(ws, id string) string { return k.base(ws) + "jobs:fires:" + id }

func (k keys) fire(ws, processID string) string { return k.base(ws) + "fire:" + processID }

func (k keys) lease(ws, id string) string { return k.base(ws) + "l:" + id }

func (k keys) retryDue(ws string) string { return k.base(ws) + "retry:due" }

func (k keys) ledger(ws string) string { return k.base(ws) + "ledger" }

func (k keys) rate(ws, keyID string) string { return k.base(ws) + "rl:" + keyID }
