package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// listen starts a loopback listener that accepts and closes connections
// until the test ends.
func listen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func TestDialLoopback(t *testing.T) {
	ln4 := listen(t, "tcp4", "127.0.0.1:0")
	ln6 := listen(t, "tcp6", "[::1]:0")
	_, port4, err := net.SplitHostPort(ln4.Addr().String())
	require.NoError(t, err)

	tests := []struct {
		name    string
		guard   *Guard
		addr    string
		allowed bool
	}{
		{"zero guard refuses 127.0.0.1", &Guard{}, ln4.Addr().String(), false},
		{"zero guard refuses ::1", &Guard{}, ln6.Addr().String(), false},
		{"zero guard refuses localhost by name", &Guard{}, net.JoinHostPort("localhost", port4), false},
		{"nil guard refuses", nil, ln4.Addr().String(), false},
		{"AllowPrivate permits 127.0.0.1", &Guard{AllowPrivate: true}, ln4.Addr().String(), true},
		{"AllowPrivate permits ::1", &Guard{AllowPrivate: true}, ln6.Addr().String(), true},
		{"Allow /32 permits it", &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, ln4.Addr().String(), true},
		{"Allow of another address does not", &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}, ln4.Addr().String(), false},
		{"Allow ::1/128 permits ::1", &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("::1/128")}}, ln6.Addr().String(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			conn, err := tt.guard.DialContext(ctx, "tcp", tt.addr)
			if tt.allowed {
				require.NoError(t, err)
				require.NoError(t, conn.Close())
				return
			}
			require.Error(t, err)
			var be *BlockedError
			require.True(t, errors.As(err, &be), "want *BlockedError, got %v", err)
			require.Equal(t, ReasonLoopback, be.Reason)
		})
	}
}

func TestDialNeverConnectsToBlocked(t *testing.T) {
	// 10.0.0.1 and 169.254.169.254 are refused before any packet is sent,
	// so this fails at once rather than timing out.
	for _, addr := range []string{"10.0.0.1:80", "169.254.169.254:80", "[fe80::1%lo]:80", "0.0.0.0:80"} {
		t.Run(addr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err := (&Guard{}).DialContext(ctx, "tcp", addr)
			var be *BlockedError
			require.True(t, errors.As(err, &be), "want *BlockedError, got %v", err)
		})
	}
}

func TestDialerSnapshotsGuard(t *testing.T) {
	ln := listen(t, "tcp4", "127.0.0.1:0")
	g := &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	d := g.Dialer()
	g.Allow[0] = netip.MustParsePrefix("10.0.0.0/8")
	conn, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, conn.Close())
}

func TestDialerRefusesOtherNetworks(t *testing.T) {
	d := (&Guard{AllowPrivate: true}).Dialer()
	_, err := d.DialContext(t.Context(), "unix", "/tmp/does-not-matter.sock")
	require.Error(t, err)
}
