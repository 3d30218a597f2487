package main

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// runDevProbe is `herald dev probe URL`: exit 0 when URL answers 200
// within 3 s, 1 otherwise. The container image has no shell or curl, so
// docker-compose health checks run the binary itself.
func runDevProbe(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: herald dev probe http://127.0.0.1:8080/readyz")
		return 2
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "probe:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "probe:", resp.Status)
		return 1
	}
	return 0
}
