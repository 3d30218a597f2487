package main

import (
	"crypto/sha256"
	"os"
	"syscall"
	"time"
)

// watchConfig checks the config file every interval and, when its content
// changed, asks for a reload as SIGHUP does (a bad file is refused there
// and the running config kept). Kubernetes updates a mounted ConfigMap in
// place but cannot signal a distroless container. It returns a stop func.
func watchConfig(path string, interval time.Duration, reload chan<- os.Signal) func() {
	if path == "" || interval <= 0 {
		return func() {}
	}
	sum := func() [32]byte {
		data, err := os.ReadFile(path)
		if err != nil {
			return [32]byte{}
		}
		return sha256.Sum256(data)
	}
	last := sum()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if cur := sum(); cur != last && cur != ([32]byte{}) {
				last = cur
				select {
				case reload <- syscall.SIGHUP:
				default: // a reload is already queued
				}
			}
		}
	}()
	return func() { close(done) }
}
