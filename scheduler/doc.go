// Package scheduler owns dispatch jobs: sends that fire on a schedule
// (`start_at` once, `every` N milliseconds, or a `cron` expression in a
// `tz` zone, bounded by `limit` and `endDate`).
//
// It parses and validates schedules (robfig/cron/v3 for the expressions,
// with daylight saving time handled as RFC 5545 does for fixed times),
// creates, lists, pauses, resumes and cancels jobs, and runs the loop that
// fires them: every replica polls its workspaces' due sets, claims due jobs
// with a short lease (logstore's job_claim.lua), hands each slot's sends to
// the producer with ids derived from (job, slot), and commits the fire —
// run count, limit, endDate and the next slot — atomically. Two replicas
// firing one slot therefore write one log entry per channel and publish one
// job; a replica that dies holding a claim loses it when the lease runs
// out, and another fires the slot.
//
// It delivers nothing itself: every send goes through the producer with
// triggered_by "schedule" and campaign_id = the job id. All Redis access is
// in logstore (jobs.go); the design is in docs/ARCHITECTURE.md.
package scheduler
