// Package netguard owns Herald's defence against server-side request
// forgery: it decides which IP addresses an outgoing callback may connect
// to, and supplies a dialer that enforces the decision.
//
// The check runs in the dialer's Control hook, on the resolved address of
// every connection actually opened, not on the host name of a URL. That
// one place covers DNS answers that change between a check and a connect
// (rebinding), redirects to other hosts, and each new keep-alive
// connection of a pooled client. An http.Transport using the guard must
// not use a proxy (Proxy: nil): the dialer would then only ever see the
// proxy's address.
//
// By default loopback, private (RFC 1918, unique local), link-local, shared
// CGNAT and benchmarking addresses are refused; Guard.AllowPrivate lifts
// that, as HERALD_ALLOW_PRIVATE_NETWORKS=true does. The published cloud
// metadata and host-agent addresses (AWS 169.254.169.254, fd00:ec2::254
// and its ECS/EKS agents, GCP fd20:ce::254, Azure's WireServer
// 168.63.129.16, Alibaba 100.100.100.200, Oracle, Tencent, Akamai; see
// metadataAddrs) are refused whatever AllowPrivate says: they hand out the
// machine's credentials. Unspecified, multicast, broadcast, reserved and
// documentation addresses are never destinations either.
// Guard.Allow names prefixes that are permitted whatever their kind, such
// as an operator's internal webhook range. IPv6 forms that carry an IPv4
// address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4) are
// judged by the IPv4 address they carry.
package netguard
