package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// Dialer returns a dialer that refuses, with a *BlockedError wrapped in a
// *net.OpError, every connection to an address Check refuses. The check
// runs on the resolved address just before each connect, so it holds for
// every address a host name resolves to and for every new connection. The
// dialer holds a copy of the Guard as it is now.
func (g *Guard) Dialer() *net.Dialer {
	var snap Guard
	if g != nil {
		snap = Guard{AllowPrivate: g.AllowPrivate, Allow: slices.Clone(g.Allow)}
	}
	return &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   snap.control,
	}
}

// DialContext connects to addr through Dialer. It fits
// http.Transport.DialContext.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return g.Dialer().DialContext(ctx, network, addr)
}

// control is the net.Dialer Control hook: address is the resolved
// "ip:port" about to be connected to.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return fmt.Errorf("netguard: network %q is not allowed", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Reason: ReasonInvalid}
	}
	return g.Check(ap.Addr())
}
