package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/config"
)

func TestSchedulerDefaultsAndProblems(t *testing.T) {
	c, err := config.Parse(nil, env(nil))
	require.NoError(t, err)
	require.Equal(t, 100*time.Millisecond, c.Scheduler.PollInterval.D())
	require.Equal(t, 5*time.Second, c.Scheduler.Lease.D())
	require.Equal(t, 64, c.Scheduler.Concurrency)

	c, err = config.Parse([]byte("scheduler: { poll_interval: 50ms, lease: 3s, concurrency: 8 }\n"), env(nil))
	require.NoError(t, err)
	require.Equal(t, 50*time.Millisecond, c.Scheduler.PollInterval.D())
	require.Equal(t, 8, c.Scheduler.Concurrency)

	_, err = config.Parse([]byte("scheduler: { poll_interval: 1ms, lease: 500ms, concurrency: -2 }\n"), env(nil))
	var ve *config.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	var paths []string
	for _, p := range ve.Problems {
		paths = append(paths, p.Path)
	}
	require.ElementsMatch(t, []string{"scheduler.poll_interval", "scheduler.lease", "scheduler.concurrency"}, paths)
}
