// Package redisx turns Herald's redis_url into a go-redis client: one
// server, or a Redis Cluster. Every Redis command and key stays in
// logstore; this package only connects.
//
// Accepted forms:
//
//	redis://[user:pass@]host:port[/db][?opts]            one server (rediss:// for TLS, unix:///path)
//	redis+cluster://[user:pass@]h1:p1,h2:p2,h3:p3[?opts] a cluster, seeded by any of its nodes (rediss+cluster:// for TLS)
//	redis://h1:p1,redis://h2:p2,redis://h3:p3             the same cluster, as a comma-separated list of server URLs
//
// A cluster takes no database number (Redis Cluster has only db 0). The
// query options are go-redis's (dial_timeout, pool_size, ...).
package redisx
