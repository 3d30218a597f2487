package config

import "time"

// SchedulerConfig tunes the scheduler that `herald serve` and `herald
// scheduler` run (README "Dispatch").
type SchedulerConfig struct {
	// PollInterval is how often each replica polls the due jobs. Default 100ms.
	PollInterval Duration `yaml:"poll_interval"`
	// Lease is how long a replica's claim on a due job holds: a replica
	// that dies holding one delays that slot by at most this. Default 5s.
	Lease Duration `yaml:"lease"`
	// Concurrency is the number of fires in flight per replica. Default 64.
	Concurrency int `yaml:"concurrency"`
}

// Scheduler defaults.
const (
	DefaultSchedulerPoll        = 100 * time.Millisecond
	DefaultSchedulerLease       = 5 * time.Second
	DefaultSchedulerConcurrency = 64
)

func (c *Config) schedulerDefaults() {
	if c.Scheduler.PollInterval == 0 {
		c.Scheduler.PollInterval = Duration(DefaultSchedulerPoll)
	}
	if c.Scheduler.Lease == 0 {
		c.Scheduler.Lease = Duration(DefaultSchedulerLease)
	}
	if c.Scheduler.Concurrency == 0 {
		c.Scheduler.Concurrency = DefaultSchedulerConcurrency
	}
}

func (c *Config) validateScheduler(ps *problems) {
	s := c.Scheduler
	if p := s.PollInterval.D(); p < 5*time.Millisecond || p > 10*time.Second {
		ps.add("scheduler.poll_interval", "must be between 5ms and 10s")
	}
	if s.Lease.D() < time.Second || s.Lease.D() <= 2*s.PollInterval.D() {
		ps.add("scheduler.lease", "must be at least 1s and longer than twice scheduler.poll_interval")
	}
	if s.Concurrency < 1 || s.Concurrency > 4096 {
		ps.add("scheduler.concurrency", "must be between 1 and 4096")
	}
}
