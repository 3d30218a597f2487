package queue

import "github.com/heraldhq/herald/logstore"

// ForEntry is the job of an entry's next attempt, as the retry pump, the
// reconciler and a bulk requeue publish it: same generation, attempt and
// due time, hence the same message id, whoever publishes it.
func ForEntry(e *logstore.Entry) *Job {
	j := &Job{Workspace: e.Workspace, ID: e.ID, Channel: e.Type, Generation: e.Generation, Attempt: e.GenerationAttempts,
		Product: e.ProductTag, Env: e.Env, Notification: e.Notification, Retries: e.Retries, Input: e.Input}
	if !e.NextAttemptAt.IsZero() {
		j.Due = e.NextAttemptAt.UnixMilli()
	}
	return j
}
