package logstore

import "context"

// FlushScriptsForTest makes Redis forget every loaded script.
func (s *Store) FlushScriptsForTest(ctx context.Context) error { return s.rdb.ScriptFlush(ctx).Err() }
