package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckZeroGuard(t *testing.T) {
	tests := []struct {
		ip     string
		reason string // "" means allowed
	}{
		// Public addresses pass.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.216.34", ""},
		{"100.63.255.255", ""},  // just below CGNAT
		{"100.128.0.0", ""},     // just above CGNAT
		{"172.15.255.255", ""},  // just below 172.16/12
		{"172.32.0.0", ""},      // just above 172.16/12
		{"198.17.255.255", ""},  // just below benchmarking
		{"198.20.0.0", ""},      // just above benchmarking
		{"223.255.255.255", ""}, // just below multicast
		{"2606:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"::ffff:8.8.8.8", ""},   // IPv4-mapped public
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		{"64:ff9b::1.1.1.1", ""}, // NAT64 written with a dotted tail
		{"::ffff:93.184.216.34", ""},

		// Loopback.
		{"127.0.0.1", ReasonLoopback},
		{"127.255.255.254", ReasonLoopback},
		{"127.0.0.2", ReasonLoopback},
		{"::1", ReasonLoopback},
		{"::ffff:127.0.0.1", ReasonLoopback},
		{"::127.0.0.1", ReasonLoopback}, // IPv4-compatible
		{"64:ff9b::7f00:1", ReasonLoopback},
		{"2002:7f00:1::", ReasonLoopback},

		// RFC 1918 and unique local.
		{"10.0.0.5", ReasonPrivate},
		{"10.255.255.255", ReasonPrivate},
		{"172.16.0.1", ReasonPrivate},
		{"172.31.255.255", ReasonPrivate},
		{"192.168.1.1", ReasonPrivate},
		{"::ffff:10.0.0.5", ReasonPrivate},
		{"::ffff:192.168.0.1", ReasonPrivate},
		{"::10.0.0.5", ReasonPrivate},
		{"64:ff9b::a00:5", ReasonPrivate},
		{"64:ff9b::192.168.0.1", ReasonPrivate},
		{"64:ff9b:1::a00:5", ReasonPrivate}, // local-use NAT64
		{"fc00::1", ReasonPrivate},
		{"fd00:ec2::1", ReasonPrivate},
		{"fdff:ffff::1", ReasonPrivate},
		{"fec0::1", ReasonPrivate},

		// Link-local.
		{"169.254.0.1", ReasonLinkLocal},
		{"169.254.169.1", ReasonLinkLocal},
		{"::ffff:169.254.1.1", ReasonLinkLocal},
		{"64:ff9b::a9fe:101", ReasonLinkLocal},
		{"fe80::1", ReasonLinkLocal},
		{"fe80::1%eth0", ReasonLinkLocal},
		{"febf:ffff::1", ReasonLinkLocal},

		// Shared address space (CGNAT).
		{"100.64.0.1", ReasonShared},
		{"100.100.100.201", ReasonShared},
		{"100.127.255.255", ReasonShared},
		{"::ffff:100.100.100.1", ReasonShared},

		// Unspecified.
		{"0.0.0.0", ReasonUnspecified},
		{"0.1.2.3", ReasonUnspecified},
		{"::", ReasonUnspecified},
		{"::ffff:0.0.0.0", ReasonUnspecified},

		// Multicast and broadcast.
		{"224.0.0.1", ReasonMulticast},
		{"239.255.255.250", ReasonMulticast},
		{"ff02::1", ReasonMulticast},
		{"ff05::1:3", ReasonMulticast},
		{"255.255.255.255", ReasonBroadcast},
		{"::ffff:255.255.255.255", ReasonBroadcast},

		// Reserved, benchmarking, documentation.
		{"240.0.0.1", ReasonReserved},
		{"254.255.255.255", ReasonReserved},
		{"192.0.0.170", ReasonReserved},
		{"198.18.0.1", ReasonBenchmarking},
		{"198.19.255.255", ReasonBenchmarking},
		{"192.0.2.1", ReasonDocumentation},
		{"198.51.100.7", ReasonDocumentation},
		{"203.0.113.9", ReasonDocumentation},
		{"2001:db8::1", ReasonDocumentation},
		{"100::1", ReasonReserved},
		{"::8.8.8.8", ReasonReserved}, // IPv4-compatible is never routed
		{"4000::1", ReasonReserved},   // outside 2000::/3
	}
	var g Guard
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			err := g.Check(ip)
			if tt.reason == "" {
				require.NoError(t, err)
				return
			}
			var be *BlockedError
			require.True(t, errors.As(err, &be), "want *BlockedError, got %v", err)
			require.Equal(t, tt.reason, be.Reason)
			require.Equal(t, ip, be.IP)
			require.Contains(t, err.Error(), ip.String())
			require.Contains(t, err.Error(), tt.reason)
		})
	}
}

func TestCheckMessage(t *testing.T) {
	var g Guard
	err := g.Check(netip.MustParseAddr("10.0.0.5"))
	require.EqualError(t, err, "destination 10.0.0.5 is a private address; callbacks to private networks are refused unless HERALD_ALLOW_PRIVATE_NETWORKS=true")

	err = g.Check(netip.MustParseAddr("::ffff:169.254.1.1"))
	require.EqualError(t, err, "destination ::ffff:169.254.1.1 (carrying 169.254.1.1) is a link-local/metadata address; callbacks to private networks are refused unless HERALD_ALLOW_PRIVATE_NETWORKS=true")

	err = g.Check(netip.MustParseAddr("168.63.129.16"))
	require.EqualError(t, err, "destination 168.63.129.16 is a cloud metadata address (Azure WireServer host agent), which is never a callback destination")

	err = g.Check(netip.MustParseAddr("224.0.0.1"))
	require.EqualError(t, err, "destination 224.0.0.1 is a multicast address, which is never a callback destination")

	err = g.Check(netip.MustParseAddr("::"))
	require.EqualError(t, err, "destination :: is an unspecified address, which is never a callback destination")

	err = g.Check(netip.Addr{})
	require.EqualError(t, err, "destination address is not a valid IP address")
}

func TestCheckAllowPrivate(t *testing.T) {
	g := &Guard{AllowPrivate: true}
	for _, ip := range []string{
		"127.0.0.1", "::1", "10.0.0.5", "172.16.0.1", "192.168.1.1", "fd00::1",
		"169.254.1.1", "fe80::1%eth0", "100.100.100.1", "198.18.0.1",
		"::ffff:10.0.0.5", "64:ff9b::a00:5", "8.8.8.8",
	} {
		t.Run(ip, func(t *testing.T) {
			require.NoError(t, g.Check(netip.MustParseAddr(ip)))
		})
	}
	// Never destinations, whatever AllowPrivate says.
	for _, ip := range []string{"0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "240.0.0.1", "192.0.2.1", "2001:db8::1"} {
		t.Run(ip, func(t *testing.T) {
			require.Error(t, g.Check(netip.MustParseAddr(ip)))
		})
	}
}

func TestCheckAllowList(t *testing.T) {
	g := &Guard{Allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.20.0.0/16"),
		netip.MustParsePrefix("fd12::/16"),
	}}
	tests := []struct {
		ip      string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true}, // the mapped form of a listed address
		{"127.0.0.2", false},
		{"10.20.30.40", true},
		{"64:ff9b::a14:1e28", true}, // NAT64 of 10.20.30.40
		{"10.21.0.1", false},
		{"fd12::5", true},
		{"fd13::5", false},
		{"169.254.169.254", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			err := g.Check(netip.MustParseAddr(tt.ip))
			if tt.allowed {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

// Every published cloud metadata and host-agent address is refused with
// ReasonMetadata, in every form that carries it, even when private networks
// are allowed; only an explicit Allow entry lets one through.
func TestCheckCloudMetadata(t *testing.T) {
	addrs := []struct{ ip, provider string }{
		{"169.254.169.254", "AWS"},
		{"169.254.169.254", "GCP"},
		{"169.254.169.254", "Azure"},
		{"169.254.169.254", "Oracle"},
		{"169.254.169.254", "DigitalOcean"},
		{"fd00:ec2::254", "AWS"},
		{"169.254.170.2", "AWS ECS"},
		{"169.254.170.23", "AWS EKS"},
		{"fd00:ec2::23", "AWS EKS"},
		{"169.254.169.253", "AWS"},
		{"fd00:ec2::253", "AWS"},
		{"169.254.169.123", "AWS"},
		{"fd00:ec2::123", "AWS"},
		{"fd20:ce::254", "GCP"},
		{"168.63.129.16", "Azure WireServer"},
		{"100.100.100.200", "Alibaba"},
		{"192.0.0.192", "Oracle"},
		{"169.254.0.23", "Tencent"},
		{"fd00:a9fe:a9fe::1", "Akamai"},
		{"fe80::a9fe:a9fe", "OpenStack"},
	}
	for _, a := range addrs {
		ip := netip.MustParseAddr(a.ip)
		forms := []netip.Addr{ip}
		if ip.Is4() {
			b := ip.As4()
			forms = append(forms,
				netip.AddrFrom16(ip.As16()), // ::ffff:a.b.c.d
				netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 10: 0, 11: 0, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}), // NAT64
				netip.AddrFrom16([16]byte{0x20, 0x02, b[0], b[1], b[2], b[3]}),                                        // 6to4
			)
		} else {
			forms = append(forms, ip.WithZone("eth0"))
		}
		for _, f := range forms {
			t.Run(a.provider+"/"+f.String(), func(t *testing.T) {
				require.Contains(t, MetadataService(f), strings.Fields(a.provider)[0])
				for _, g := range []*Guard{nil, {}, {AllowPrivate: true}, {AllowPrivate: true, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}} {
					var be *BlockedError
					require.True(t, errors.As(g.Check(f), &be), "%v must be refused by %+v", f, g)
					require.Equal(t, ReasonMetadata, be.Reason)
					require.Contains(t, be.Error(), "never a callback destination")
				}
			})
		}
	}
	// An operator who lists one explicitly gets it (a test double, say).
	g := &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("168.63.129.16/32")}}
	require.NoError(t, g.Check(netip.MustParseAddr("168.63.129.16")))
	// Neighbours of the metadata addresses are judged by their range.
	require.NoError(t, (&Guard{AllowPrivate: true}).Check(netip.MustParseAddr("169.254.169.250")))
	require.NoError(t, (&Guard{}).Check(netip.MustParseAddr("168.63.129.17")))
}

func TestCheckNilGuard(t *testing.T) {
	var g *Guard
	require.Error(t, g.Check(netip.MustParseAddr("127.0.0.1")))
	require.NoError(t, g.Check(netip.MustParseAddr("8.8.8.8")))
}

// Every address refused by a reason of the standard library's own
// predicates must be refused by the zero Guard too.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "fe80::1%eth0", "8.8.8.8", "2606:4700::1111", "", "::", "1.2.3"} {
		f.Add([]byte(s))
	}
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		addrs := []netip.Addr{}
		if ip, ok := netip.AddrFromSlice(data); ok {
			addrs = append(addrs, ip)
		}
		if ip, err := netip.ParseAddr(string(data)); err == nil {
			addrs = append(addrs, ip)
		}
		if ap, err := netip.ParseAddrPort(string(data)); err == nil {
			addrs = append(addrs, ap.Addr())
		}
		addrs = append(addrs, netip.Addr{})
		for _, ip := range addrs {
			var zero Guard
			err := zero.Check(ip)
			if perr := (&Guard{AllowPrivate: true}).Check(ip); MetadataService(ip) != "" && perr == nil {
				t.Fatalf("Check(%v) with AllowPrivate allowed a cloud metadata address", ip)
			}
			if err != nil {
				var be *BlockedError
				if !errors.As(err, &be) || be.Reason == "" || !strings.HasPrefix(err.Error(), "destination ") {
					t.Fatalf("Check(%v) = %v, want a *BlockedError with a reason", ip, err)
				}
				continue
			}
			u := ip.WithZone("").Unmap()
			if u.IsLoopback() || u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsLinkLocalMulticast() ||
				u.IsMulticast() || u.IsUnspecified() || u.IsInterfaceLocalMulticast() || !u.IsGlobalUnicast() {
				t.Fatalf("Check(%v) allowed a non-public address", ip)
			}
		}
	})
}
