package netguard

import (
	"fmt"
	"net/netip"
)

// Reasons a destination is refused, as found in BlockedError.Reason.
const (
	ReasonInvalid       = "invalid"
	ReasonUnspecified   = "unspecified"
	ReasonLoopback      = "loopback"
	ReasonPrivate       = "private"
	ReasonLinkLocal     = "link-local/metadata"
	ReasonShared        = "shared (CGNAT)"
	ReasonBenchmarking  = "benchmarking"
	ReasonMulticast     = "multicast"
	ReasonBroadcast     = "broadcast"
	ReasonReserved      = "reserved"
	ReasonDocumentation = "documentation"
	// ReasonMetadata is a cloud provider's instance metadata service or
	// host agent: never a destination, whatever AllowPrivate says.
	ReasonMetadata = "cloud metadata"
)

// Guard decides which addresses outgoing connections may reach. The zero
// value refuses every non-public address. A Guard must not be changed
// while dialers made from it are in use.
type Guard struct {
	// AllowPrivate permits loopback, private, link-local, shared (CGNAT)
	// and benchmarking addresses (HERALD_ALLOW_PRIVATE_NETWORKS=true).
	// Cloud metadata, unspecified, multicast, broadcast, reserved and
	// documentation addresses stay refused.
	AllowPrivate bool
	// Allow lists prefixes permitted whatever the kind of address, e.g.
	// an operator's internal webhook range or a test server's /32. An
	// address carrying an IPv4 address (IPv4-mapped, NAT64, ...) is
	// permitted when either form is listed.
	Allow []netip.Prefix
}

// BlockedError is the refusal of a destination address.
type BlockedError struct {
	// IP is the address that was refused, as it was given.
	IP netip.Addr
	// Reason is one of the Reason* constants.
	Reason string
	// embedded is the IPv4 address IP carries, when it carries one.
	embedded netip.Addr
}

func (e *BlockedError) Error() string {
	if !e.IP.IsValid() {
		return "destination address is not a valid IP address"
	}
	dest := e.IP.String()
	if e.embedded.IsValid() && e.embedded != e.IP {
		dest = fmt.Sprintf("%s (carrying %s)", e.IP, e.embedded)
	}
	if e.Reason == ReasonMetadata {
		return fmt.Sprintf("destination %s is a cloud metadata address (%s), which is never a callback destination",
			dest, MetadataService(e.IP))
	}
	if liftable(e.Reason) {
		return fmt.Sprintf("destination %s is %s %s address; callbacks to private networks are refused unless HERALD_ALLOW_PRIVATE_NETWORKS=true",
			dest, article(e.Reason), e.Reason)
	}
	return fmt.Sprintf("destination %s is %s %s address, which is never a callback destination",
		dest, article(e.Reason), e.Reason)
}

func article(reason string) string {
	switch reason[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an"
	}
	return "a"
}

// liftable reports whether Guard.AllowPrivate permits addresses refused
// for reason.
func liftable(reason string) bool {
	switch reason {
	case ReasonLoopback, ReasonPrivate, ReasonLinkLocal, ReasonShared, ReasonBenchmarking:
		return true
	}
	return false
}

// Check returns nil when ip may be connected to, else a *BlockedError
// naming why not. A nil Guard behaves as the zero Guard.
func (g *Guard) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return &BlockedError{IP: ip, Reason: ReasonInvalid}
	}
	bare := ip.WithZone("") // Prefix.Contains never matches a zoned address
	embedded := embeddedIPv4(bare)
	if g != nil {
		for _, p := range g.Allow {
			if p.Contains(bare) || (embedded.IsValid() && p.Contains(embedded)) {
				return nil
			}
		}
	}
	reason := classify(bare)
	if reason == "" || (g != nil && g.AllowPrivate && liftable(reason)) {
		return nil
	}
	return &BlockedError{IP: ip, Reason: reason, embedded: embedded}
}

type special struct {
	prefix netip.Prefix
	reason string
}

// metadataAddrs are the published addresses of cloud providers' instance
// metadata services and host agents. They hand out credentials to whoever
// asks from the machine, so a callback must never reach one, not even an
// operator's who allows private networks (an internal webhook range does
// not need them; Guard.Allow can still name one explicitly). Most of them
// also lie in a range refused anyway; listing them here keeps them refused
// when that range is allowed, and catches the ones in public space.
var metadataAddrs = map[netip.Addr]string{
	// AWS: IMDS (IPv4 and Nitro IPv6), ECS task metadata, EKS Pod
	// Identity agent, Route 53 Resolver, Time Sync.
	netip.MustParseAddr("169.254.169.254"): "AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack instance metadata",
	netip.MustParseAddr("fd00:ec2::254"):   "AWS instance metadata (IPv6)",
	netip.MustParseAddr("169.254.170.2"):   "AWS ECS task metadata and credentials",
	netip.MustParseAddr("169.254.170.23"):  "AWS EKS Pod Identity agent",
	netip.MustParseAddr("fd00:ec2::23"):    "AWS EKS Pod Identity agent (IPv6)",
	netip.MustParseAddr("169.254.169.253"): "AWS Route 53 Resolver",
	netip.MustParseAddr("fd00:ec2::253"):   "AWS Route 53 Resolver (IPv6)",
	netip.MustParseAddr("169.254.169.123"): "AWS Time Sync",
	netip.MustParseAddr("fd00:ec2::123"):   "AWS Time Sync (IPv6)",
	// GCP: the metadata server of IPv6-only instances.
	netip.MustParseAddr("fd20:ce::254"): "GCP metadata server (IPv6)",
	// Azure: WireServer, the host agent endpoint (public address space).
	netip.MustParseAddr("168.63.129.16"): "Azure WireServer host agent",
	// Alibaba Cloud ECS metadata.
	netip.MustParseAddr("100.100.100.200"): "Alibaba Cloud instance metadata",
	// Oracle Cloud's legacy metadata address.
	netip.MustParseAddr("192.0.0.192"): "Oracle Cloud instance metadata (legacy)",
	// Tencent Cloud metadata (metadata.tencentyun.com).
	netip.MustParseAddr("169.254.0.23"): "Tencent Cloud instance metadata",
	// Akamai (Linode) metadata service.
	netip.MustParseAddr("fd00:a9fe:a9fe::1"): "Akamai (Linode) metadata (IPv6)",
	netip.MustParseAddr("fe80::a9fe:a9fe"):   "OpenStack and Akamai metadata (IPv6 link-local)",
}

// MetadataService names the cloud service at ip (or the IPv4 address it
// carries), or "" when ip is not a published metadata address.
func MetadataService(ip netip.Addr) string {
	bare := ip.WithZone("")
	if name, ok := metadataAddrs[bare]; ok {
		return name
	}
	if v4 := embeddedIPv4(bare); v4.IsValid() {
		return metadataAddrs[v4]
	}
	return ""
}

// Special-purpose IPv4 ranges (IANA IPv4 Special-Purpose Address
// Registry). The broadcast /32 comes before the 240/4 it lies in.
var specialV4 = []special{
	{netip.MustParsePrefix("0.0.0.0/8"), ReasonUnspecified},
	{netip.MustParsePrefix("127.0.0.0/8"), ReasonLoopback},
	{netip.MustParsePrefix("10.0.0.0/8"), ReasonPrivate},
	{netip.MustParsePrefix("172.16.0.0/12"), ReasonPrivate},
	{netip.MustParsePrefix("192.168.0.0/16"), ReasonPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), ReasonShared},
	{netip.MustParsePrefix("169.254.0.0/16"), ReasonLinkLocal},
	{netip.MustParsePrefix("198.18.0.0/15"), ReasonBenchmarking},
	{netip.MustParsePrefix("192.0.0.0/24"), ReasonReserved},
	{netip.MustParsePrefix("192.0.2.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("198.51.100.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), ReasonMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), ReasonBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), ReasonReserved},
}

// Special-purpose IPv6 ranges. Forms carrying an IPv4 address are handled
// by embeddedIPv4 before these are consulted.
var specialV6 = []special{
	{netip.MustParsePrefix("::/128"), ReasonUnspecified},
	{netip.MustParsePrefix("::1/128"), ReasonLoopback},
	{netip.MustParsePrefix("64:ff9b:1::/48"), ReasonPrivate}, // local-use NAT64 (RFC 8215)
	{netip.MustParsePrefix("100::/64"), ReasonReserved},      // discard-only
	{netip.MustParsePrefix("2001:db8::/32"), ReasonDocumentation},
	{netip.MustParsePrefix("fc00::/7"), ReasonPrivate}, // unique local, incl. AWS's fd00:ec2::254
	{netip.MustParsePrefix("fe80::/10"), ReasonLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), ReasonPrivate}, // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), ReasonMulticast},
}

var (
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	compatV6        = netip.MustParsePrefix("::/96")
	nat64V6         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFourV6     = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address that an IPv6 address of a
// translating or tunnelling form carries, or the address itself when it
// is IPv4; the zero Addr otherwise. ip has no zone.
func embeddedIPv4(ip netip.Addr) netip.Addr {
	if ip.Is4() || ip.Is4In6() {
		return ip.Unmap()
	}
	b := ip.As16()
	switch {
	case nat64V6.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case compatV6.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFourV6.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return netip.Addr{}
}

// classify returns why ip (without zone) is refused, or "" for a public
// address.
func classify(ip netip.Addr) string {
	if MetadataService(ip) != "" {
		return ReasonMetadata
	}
	if v4 := embeddedIPv4(ip); v4.IsValid() {
		for _, s := range specialV4 {
			if s.prefix.Contains(v4) {
				return s.reason
			}
		}
		if ip.Is6() && !ip.Is4In6() && !nat64V6.Contains(ip) && !sixToFourV6.Contains(ip) {
			// IPv4-compatible (::a.b.c.d) is deprecated and never routed.
			return ReasonReserved
		}
		return ""
	}
	for _, s := range specialV6 {
		if s.prefix.Contains(ip) {
			return s.reason
		}
	}
	if !globalUnicastV6.Contains(ip) {
		// Outside 2000::/3 nothing is allocated for global unicast.
		return ReasonReserved
	}
	return ""
}
