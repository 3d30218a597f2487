package redisx

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Parsed is a parsed redis_url: exactly one of Single and Cluster is set.
type Parsed struct {
	Single  *redis.Options
	Cluster *redis.ClusterOptions
}

// IsCluster reports whether the URL names a Redis Cluster.
func (p *Parsed) IsCluster() bool { return p.Cluster != nil }

// Parse parses a redis_url in any of the accepted forms.
func Parse(raw string) (*Parsed, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("empty redis url")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("want redis://host:port/db, rediss://, unix://, redis+cluster://h1:p1,h2:p2 or a comma-separated list of redis:// URLs")
	}
	switch scheme {
	case "redis+cluster", "rediss+cluster":
		base := strings.TrimSuffix(scheme, "+cluster")
		return parseCluster(base, rest)
	case "redis", "rediss":
		if strings.Contains(raw, ",") {
			return parseList(raw)
		}
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, clean(err)
		}
		return &Parsed{Single: o}, nil
	case "unix":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, clean(err)
		}
		return &Parsed{Single: o}, nil
	}
	return nil, fmt.Errorf("unknown scheme %q: want redis, rediss, unix, redis+cluster or rediss+cluster", scheme)
}

// parseCluster reads "[userinfo@]h1:p1,h2:p2[/][?query]".
func parseCluster(base, rest string) (*Parsed, error) {
	hosts, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts, tail = rest[:i], rest[i:]
	}
	userinfo := ""
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		userinfo, hosts = hosts[:i+1], hosts[i+1:]
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" && path != "/0" {
		return nil, errors.New("a Redis Cluster has no database number: drop the /db")
	}
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			addrs = append(addrs, h)
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("redis+cluster:// needs at least one host:port")
	}
	return clusterFrom(base, userinfo, addrs, query)
}

// parseList reads "redis://h1:p1,redis://h2:p2": every element must agree
// on scheme and credentials; the query of the first applies.
func parseList(raw string) (*Parsed, error) {
	var (
		scheme, userinfo, query string
		addrs                   []string
	)
	for i, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("element %d of the list is not a redis:// URL", i+1)
		}
		if u.Path != "" && u.Path != "/" && u.Path != "/0" {
			return nil, errors.New("a Redis Cluster has no database number: drop the /db")
		}
		ui := ""
		if u.User != nil {
			ui = u.User.String() + "@"
		}
		if i == 0 {
			scheme, userinfo, query = u.Scheme, ui, u.RawQuery
		} else if u.Scheme != scheme || ui != userinfo {
			return nil, errors.New("every URL of a cluster list must use the same scheme and credentials")
		}
		addrs = append(addrs, u.Host)
	}
	return clusterFrom(scheme, userinfo, addrs, query)
}

func clusterFrom(scheme, userinfo string, addrs []string, query string) (*Parsed, error) {
	u := scheme + "://" + userinfo + addrs[0]
	q := query
	for _, a := range addrs[1:] {
		if q != "" {
			q += "&"
		}
		q += "addr=" + url.QueryEscape(a)
	}
	if q != "" {
		u += "?" + q
	}
	o, err := redis.ParseClusterURL(u)
	if err != nil {
		return nil, clean(err)
	}
	return &Parsed{Cluster: o}, nil
}

// clean drops go-redis's "redis: " prefix, which reads oddly after ours.
func clean(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), "redis: "))
}

// NewClient returns a client for the parsed URL. poolSize, when positive
// and not set in the URL, is the connection pool size (per node).
func (p *Parsed) NewClient(poolSize int) redis.UniversalClient {
	if p.Cluster != nil {
		o := *p.Cluster
		if o.PoolSize == 0 {
			o.PoolSize = poolSize
		}
		return redis.NewClusterClient(&o)
	}
	o := *p.Single
	if o.PoolSize == 0 {
		o.PoolSize = poolSize
	}
	return redis.NewClient(&o)
}

// Redacted returns the URL with any password replaced by "xxxxx".
func Redacted(raw string) string {
	var out []string
	for _, part := range strings.Split(raw, ",") {
		scheme, rest, ok := strings.Cut(strings.TrimSpace(part), "://")
		if !ok {
			out = append(out, part)
			continue
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			user, _, hasPass := strings.Cut(rest[:at], ":")
			if hasPass {
				rest = user + ":xxxxx" + rest[at:]
			}
		}
		out = append(out, scheme+"://"+rest)
	}
	return strings.Join(out, ",")
}
