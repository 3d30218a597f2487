package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/heraldhq/herald/internal/ids"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/producer"
)

// IDSeed is the seed of a fire's message and process ids: the job and the
// slot, so that every replica firing the slot derives the same ids.
func IDSeed(jobID string, slot time.Time) string {
	return jobID + "/" + strconv.FormatInt(slot.UnixMilli(), 10)
}

// ProcessID is the process id a job's fire of slot has (and the id of its
// send log): every message of the fire carries it.
func ProcessID(jobID string, slot time.Time) string {
	return "prc_" + ids.Derive(slot, IDSeed(jobID, slot))
}

// fire sends one claimed slot through the producer and commits it.
//
// The order matters: send, then commit. A replica that dies between the
// two leaves the slot uncommitted; when its lease runs out another replica
// fires the slot again with the same ids — the producer writes nothing new
// and JetStream drops the duplicate publish — and commits it. Committing
// first would lose the slot instead.
func (s *Scheduler) fire(c claim) {
	ctx := s.fireCtx
	if c.waited {
		// Paused or cancelled while this replica held the claim ahead of
		// its slot: the pause removed it from the due set; nothing to do.
		st, err := s.cfg.Store.JobStatus(ctx, c.Workspace, c.JobID)
		if err == nil && st != logstore.JobQueued && st != logstore.JobActive {
			s.m.fires.WithLabelValues(outcomeSkipped).Inc()
			return
		}
	}
	started := s.clock.Now()
	s.m.lateness.Observe(max(started.Sub(c.Slot), 0).Seconds())
	f := &logstore.Fire{JobID: c.JobID, Slot: c.Slot, ProcessID: ProcessID(c.JobID, c.Slot), FiredAt: started}
	log := s.log.With(zap.String("workspace", c.Workspace), zap.String("job_id", c.JobID), zap.Time("slot", c.Slot))

	var next time.Time
	sched, err := decodeSchedule(c.Schedule)
	var def sendDef
	if err == nil {
		err = json.Unmarshal(c.Send, &def)
	}
	if err != nil {
		// Cannot happen with jobs this code wrote; finish the job rather
		// than fail it forever.
		log.Error("corrupt job; completing it", zap.Error(err))
		f.Error = "corrupt job: " + err.Error()
	} else {
		res, err := s.cfg.Sender.SendMulti(ctx, c.Workspace, def.request(), producer.Options{
			Via: producer.ViaSchedule, CampaignID: c.JobID, ProcessID: f.ProcessID,
			IDSeed: IDSeed(c.JobID, c.Slot), At: c.Slot, SessionTag: def.Session,
		})
		if retry(res, err) {
			s.m.fires.WithLabelValues(outcomeRetry).Inc()
			at := s.clock.Now().Add(s.cfg.RetryDelay)
			if s.stopping.Load() {
				at = s.clock.Now()
			}
			log.Warn("the producer could not take the fire; handing it back", zap.Error(err), zap.Time("retry_at", at))
			s.release(c.Claim, at)
			return
		}
		f.Messages, f.Error = summarize(res, err)
		if f.Error != "" {
			log.Warn("fire sent nothing on some channels", zap.String("error", f.Error))
		}
		// Missed-slot policy: the next slot is the first after now, so a
		// late fire (downtime, a lease taken over) is one fire, not a burst.
		next = sched.Next(latest(c.Slot, s.clock.Now()))
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	r, err := s.cfg.Store.CommitFire(cctx, c.Workspace, f, next)
	switch {
	case err != nil:
		// The lease runs out and the slot fires again (with the same ids).
		s.m.fires.WithLabelValues(outcomeCommitErr).Inc()
		log.Error("could not commit a fire; it will be fired again when the lease ends", zap.Error(err))
	case !r.Committed:
		s.m.fires.WithLabelValues(outcomeSuperseded).Inc()
	case len(f.Messages) == 0:
		s.m.fires.WithLabelValues(outcomeFailed).Inc()
	default:
		s.m.fires.WithLabelValues(outcomeSent).Inc()
	}
}

// retry reports whether a fire should be handed back and tried again: the
// producer was unavailable (or the fire was cancelled at stop) and no
// channel was accepted. An invalid definition is not retried: it would be
// refused again; the fire is recorded with the error instead.
func retry(res *producer.MultiResult, err error) bool {
	if err != nil {
		var inv *producer.InvalidError
		return !errors.As(err, &inv)
	}
	if res.Success {
		return false
	}
	for _, cr := range res.Channels {
		if cr.Error != nil && cr.Error.Code == "unavailable" {
			return true
		}
	}
	return false
}

// summarize lists the accepted channels' message ids and the refusals.
func summarize(res *producer.MultiResult, err error) (map[string]string, string) {
	if err != nil {
		return nil, err.Error()
	}
	msgs := map[string]string{}
	var errs []string
	for ch, cr := range res.Channels {
		if cr.Success {
			msgs[ch] = cr.MessageID
		} else if cr.Error != nil {
			errs = append(errs, ch+": "+cr.Error.Message)
		}
	}
	sort.Strings(errs)
	if len(msgs) == 0 {
		msgs = nil
	}
	return msgs, strings.Join(errs, "; ")
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
