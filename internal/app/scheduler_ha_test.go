package app_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
	"github.com/heraldhq/herald/internal/app"
	"github.com/heraldhq/herald/internal/apptest"
	"github.com/heraldhq/herald/internal/clock"
	"github.com/heraldhq/herald/logstore"
	"github.com/heraldhq/herald/producer"
	"github.com/heraldhq/herald/scheduler"
)

// freezer makes a replica die mid-fire when armed: its first fires reach
// the producer (entries written, jobs published) and then never commit —
// a process killed between sending and committing — and the rest never
// reach the producer at all. Nothing it holds is committed or handed back
// until the test lets go.
type freezer struct {
	scheduler.Sender
	armed   atomic.Bool
	frozen  atomic.Int32
	letGo   chan struct{}
	sendsOK int32
}

func (f *freezer) SendMulti(ctx context.Context, ws string, req *producer.MultiRequest, opts producer.Options) (*producer.MultiResult, error) {
	if !f.armed.Load() {
		return f.Sender.SendMulti(ctx, ws, req, opts)
	}
	if f.frozen.Add(1) <= f.sendsOK {
		res, err := f.Sender.SendMulti(ctx, ws, req, opts)
		<-f.letGo
		return res, err // the commit that follows finds the slot committed by another replica
	}
	<-f.letGo
	return nil, context.Canceled
}

// Three scheduler replicas on one Redis and one NATS fire a few hundred
// jobs; one of them dies mid-fire. Every job fires every slot exactly
// once: one log entry per job per slot, one request at the receiver.
func TestSchedulerReplicasFireEachSlotOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four processes")
	}
	const jobs, slots = 300, 4
	rc := apptest.NewReceiver(t)
	t0 := time.Now().UTC().Truncate(time.Minute)
	clk := clock.NewFake(t0)
	yaml := schedulerYAML(rc.URL, ", concurrency: 4")

	// The host runs the API, the worker and the NATS server; it fires nothing.
	host := apptest.Start(t, apptest.Options{YAML: yaml, Role: app.Role{API: true, Worker: true}, AppOpts: withClock(clk)})
	replicas := make([]*apptest.Herald, 3)
	frz := &freezer{letGo: make(chan struct{}), sendsOK: 2}
	for i := range replicas {
		replicas[i] = apptest.Start(t, apptest.Options{
			YAML: yaml, Role: app.RoleScheduler, Redis: host.Redis,
			Env: map[string]string{config.EnvNATSURL: host.App.NATSURL()},
			AppOpts: func(o *app.Options) {
				o.Clock = clk
				o.SchedulerOwner = fmt.Sprintf("replica-%d", i)
				if i == 2 {
					o.WrapSender = func(s scheduler.Sender) scheduler.Sender { frz.Sender = s; return frz }
				}
			},
		})
	}

	ctx := context.Background()
	ids := make([]string, jobs)
	for i := range ids {
		j, err := host.App.Scheduler().Dispatch(ctx, "acme", []byte(fmt.Sprintf(
			`{"product":"shop","env":"prd","notification":"orders:confirmation","input":{"callback":{"params":{"id":"HA-%d"}}},"schedule":{"every":10000,"start_at":%d}}`,
			i, t0.Add(10*time.Second).UnixMilli())))
		require.NoError(t, err)
		ids[i] = j.ID
	}
	store := host.App.Store()
	firedAt := func(slot time.Time) int64 {
		_, n, err := store.Fires(ctx, logstore.FireQuery{Workspace: "acme", From: slot, To: slot, Limit: 1})
		require.NoError(t, err)
		return n
	}
	waitFired := func(slot time.Time) {
		t.Helper()
		require.Eventually(t, func() bool { return firedAt(slot) == jobs }, 60*time.Second, 10*time.Millisecond,
			"slot %s: %d of %d jobs fired", slot, firedAt(slot), jobs)
	}

	// Slot 1: all three replicas.
	clk.Set(t0.Add(10 * time.Second))
	waitFired(t0.Add(10 * time.Second))

	// Slot 2: replica 2 dies mid-fire and stops polling.
	frz.armed.Store(true)
	slot2 := t0.Add(20 * time.Second)
	clk.Set(slot2)
	require.Eventually(t, func() bool { return frz.frozen.Load() >= 1 }, 30*time.Second, time.Millisecond, "replica 2 claimed nothing")
	stopped := make(chan error, 1)
	go func() { stopped <- replicas[2].Stop(30 * time.Second) }()
	// Its leases (2s) run out; the others fire what it held, the same
	// slot. (Should it have claimed more while stopping, the next lease
	// period takes those too; all within the slot's 10s.)
	for step := 1; firedAt(slot2) < jobs; step++ {
		require.LessOrEqual(t, step, 3, "slot 2: %d of %d jobs fired", firedAt(slot2), jobs)
		clk.Set(slot2.Add(time.Duration(step) * 2500 * time.Millisecond))
		deadline := time.Now().Add(20 * time.Second)
		for firedAt(slot2) < jobs && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(frz.letGo) // the dead replica's fires return late: they change nothing
	require.NoError(t, <-stopped)

	// Slots 3 and 4: the two survivors.
	for s := 3; s <= slots; s++ {
		slot := t0.Add(time.Duration(s) * 10 * time.Second)
		clk.Set(slot)
		waitFired(slot)
	}

	// Exactly once: per job, one fire and one log entry per slot ...
	for _, id := range ids {
		fires, n, err := store.Fires(ctx, logstore.FireQuery{Workspace: "acme", JobID: id})
		require.NoError(t, err)
		require.EqualValues(t, slots, n, id)
		for k, f := range fires {
			require.Equal(t, t0.Add(time.Duration(k+1)*10*time.Second), f.Slot.UTC())
		}
		p, err := store.Query(ctx, logstore.Query{Workspace: "acme", CampaignID: id, Limit: 10})
		require.NoError(t, err)
		require.EqualValues(t, slots, p.Total, "log entries of %s", id)
		j, err := host.App.Scheduler().Job(ctx, "acme", id)
		require.NoError(t, err)
		require.Equal(t, slots, j.Runs)
	}
	// ... and one request per job per slot at the receiver, once every
	// entry is settled.
	require.Eventually(t, func() bool {
		p, err := store.Query(ctx, logstore.Query{Workspace: "acme", Status: logstore.StatusSent, Limit: 1})
		return err == nil && p.Total == jobs*slots
	}, 120*time.Second, 20*time.Millisecond, "deliveries did not finish")
	require.Len(t, rc.Requests(), jobs*slots)
	for i := range jobs {
		require.Equal(t, slots, rc.Count(fmt.Sprintf("/orders/HA-%d", i)), "HA-%d", i)
	}
	require.GreaterOrEqual(t, frz.frozen.Load(), int32(1))
	for i, r := range replicas {
		t.Logf("replica %d: fires by outcome %v", i, firesByOutcome(t, r.App))
	}
	t.Logf("replica 2 froze %d fires", frz.frozen.Load())
}

// firesByOutcome reads herald_scheduler_fires_total from a process.
func firesByOutcome(t *testing.T, a *app.App) map[string]float64 {
	t.Helper()
	mfs, err := a.Registry().Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "herald_scheduler_fires_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// A scheduler that stops gracefully hands back the claims it holds ahead
// of their slot: another fires them on time, without waiting out a lease.
func TestStoppedSchedulerHandsClaimsBack(t *testing.T) {
	rc := apptest.NewReceiver(t)
	t0 := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	// A long lease: if the claim were not handed back, nothing would fire
	// while the fake clock stays at the slot.
	yaml := jobsYAML(rc.URL) + "scheduler: { poll_interval: 10ms, lease: 1h }\n"
	host := apptest.Start(t, apptest.Options{YAML: yaml, Role: app.Role{API: true, Worker: true}, AppOpts: withClock(clk)})
	replica := func() *apptest.Herald {
		return apptest.Start(t, apptest.Options{
			YAML: yaml, Role: app.RoleScheduler, Redis: host.Redis,
			Env: map[string]string{config.EnvNATSURL: host.App.NATSURL()}, AppOpts: withClock(clk),
		})
	}
	a := replica()
	slot := t0.Add(time.Minute)
	id := dispatch(t, host, dispatchBody("HANDBACK", map[string]any{"start_at": slot.UnixMilli()}))

	// Inside the look-ahead (20ms): a claims it and holds it for the slot.
	clk.Set(slot.Add(-10 * time.Millisecond))
	require.Eventually(t, func() bool {
		mfs, err := a.App.Registry().Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "herald_scheduler_claimed_total" {
				return mf.GetMetric()[0].GetCounter().GetValue() == 1
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, a.Stop(10*time.Second))
	require.EqualValues(t, 0, getJob(t, host, id)["runs"])

	b := replica()
	clk.Set(slot)
	j := waitRuns(t, host, id, 1)
	require.Equal(t, "completed", j["status"])
	// The scheduler counts the fire after the commit that waitRuns saw.
	require.Eventually(t, func() bool {
		f := firesByOutcome(t, b.App)
		return len(f) == 1 && f["sent"] == 1
	}, 10*time.Second, 10*time.Millisecond, "b fired the slot once, sent")
	require.Eventually(t, func() bool { return rc.Count("/orders/HANDBACK") == 1 }, 10*time.Second, 10*time.Millisecond)
}
