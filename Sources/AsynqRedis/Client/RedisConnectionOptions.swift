/// Where one Redis server listens.
public enum RedisServerAddress: Hashable, Sendable, CustomStringConvertible {
    /// A TCP endpoint. `host` is a name or an IPv4/IPv6 literal (without brackets).
    case tcp(host: String, port: Int)
    /// A unix domain socket.
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port):
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path):
            "unix:\(path)"
        }
    }

    /// Parses `host:port`, `[v6]:port` or `host` (port 6379).
    public init(parsing text: String, defaultPort: Int = 6379) throws(RedisClientError) {
        if text.isEmpty { throw RedisClientError(.invalidConfiguration, "empty Redis address") }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw RedisClientError(.invalidConfiguration, "invalid address \"\(text)\": missing ']'")
            }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                self = .tcp(host: host, port: defaultPort)
                return
            }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else {
                throw RedisClientError(.invalidConfiguration, "invalid port in address \"\(text)\"")
            }
            self = .tcp(host: host, port: port)
            return
        }
        let colons = text.filter { $0 == ":" }.count
        if colons == 1, let colon = text.lastIndex(of: ":") {
            let host = String(text[..<colon])
            guard !host.isEmpty else {
                throw RedisClientError(.invalidConfiguration, "missing host in address \"\(text)\"")
            }
            guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
                throw RedisClientError(.invalidConfiguration, "invalid port in address \"\(text)\"")
            }
            self = .tcp(host: host, port: port)
        } else {
            // No port, or a bare IPv6 literal.
            self = .tcp(host: text, port: defaultPort)
        }
    }
}

/// TLS settings for connections to Redis.
public struct RedisTLSConfiguration: Hashable, Sendable {
    /// PEM file with the certificate authorities to trust; the system roots when nil.
    public var caFile: String?
    /// PEM client certificate (chain) for mutual TLS.
    public var certificateFile: String?
    /// PEM private key matching `certificateFile`.
    public var privateKeyFile: String?
    /// Name to verify the server certificate against and to send as SNI; defaults to the host connected to.
    public var serverName: String?
    /// Accept any server certificate. Only for development: it removes the protection TLS gives.
    public var skipVerify: Bool

    public init(
        caFile: String? = nil,
        certificateFile: String? = nil,
        privateKeyFile: String? = nil,
        serverName: String? = nil,
        skipVerify: Bool = false
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.serverName = serverName
        self.skipVerify = skipVerify
    }
}

/// Limits that protect a client from hostile or broken servers.
public struct RESPDecoderLimits: Hashable, Sendable {
    /// Deepest nesting of aggregates accepted.
    public var maxDepth: Int
    /// Longest bulk string accepted (Redis' own `proto-max-bulk-len` default is 512 MiB).
    public var maxBulkLength: Int
    /// Most elements one aggregate may announce.
    public var maxAggregateCount: Int
    /// Longest simple line (simple string, error, number) accepted.
    public var maxLineLength: Int
    /// Largest complete reply accepted, in bytes.
    public var maxReplySize: Int

    public init(
        maxDepth: Int = 128,
        maxBulkLength: Int = 512 * 1024 * 1024,
        maxAggregateCount: Int = 1 << 28,
        maxLineLength: Int = 1024 * 1024,
        maxReplySize: Int = 1024 * 1024 * 1024
    ) {
        self.maxDepth = maxDepth
        self.maxBulkLength = maxBulkLength
        self.maxAggregateCount = maxAggregateCount
        self.maxLineLength = maxLineLength
        self.maxReplySize = maxReplySize
    }

    public static let `default` = RESPDecoderLimits()
}

/// Everything needed to reach Redis: the topology (one server, a Sentinel group, or a cluster),
/// credentials, TLS, timeouts and pool sizing.
public struct RedisConnectionOptions: Sendable {
    public enum Topology: Hashable, Sendable {
        case standalone(RedisServerAddress)
        /// A master found through Redis Sentinel.
        case sentinel(masterName: String, sentinels: [RedisServerAddress], username: String?, password: String?)
        /// A Redis Cluster, discovered from any of the seed nodes.
        case cluster(nodes: [RedisServerAddress])
    }

    public enum ProtocolVersion: Int, Hashable, Sendable {
        case resp2 = 2
        case resp3 = 3
    }

    public var topology: Topology
    /// ACL user name (Redis 6+); nil for the default user.
    public var username: String?
    public var password: String?
    /// Logical database (ignored by Redis Cluster, which has only 0).
    public var database: Int
    public var tls: RedisTLSConfiguration?
    /// Name set with `CLIENT SETNAME` (must not contain spaces).
    public var clientName: String?
    /// The protocol asked for with `HELLO`; the client falls back to RESP2 when the server refuses HELLO.
    public var protocolVersion: ProtocolVersion
    public var connectTimeout: Duration
    /// Longest wait for a reply; blocking commands add their own block time. Nil waits forever.
    public var commandTimeout: Duration?
    /// Most connections the pool keeps to one server (dedicated connections included).
    public var maxConnections: Int
    /// Commands in flight on a shared connection before the pool opens another.
    public var pipeliningThreshold: Int
    /// How long an idle pooled connection lives before it is closed (the pool keeps at least one).
    public var idleTimeout: Duration
    /// First and longest wait between reconnection attempts (with jitter).
    public var reconnectBackoff: (initial: Duration, maximum: Duration)
    public var decoderLimits: RESPDecoderLimits
    /// Redis Cluster: how many `MOVED`/`ASK` redirections (and unreachable nodes) one command
    /// may follow before its last error is thrown (Go's `RedisClusterClientOpt.MaxRedirects`).
    public var maxRedirects: Int = 8
    /// Redis Cluster: how long a command refused with `TRYAGAIN` (during a slot migration, the
    /// keys of a multi-key command or script are split between the two nodes) or `CLUSTERDOWN`
    /// (during a failover) is retried, with backoff from 10 ms to 250 ms, before the error is
    /// thrown. Such a command did not run, so retrying it is always safe.
    public var clusterRetryTimeout: Duration = .seconds(10)
    /// A request is written at once while fewer than this many replies are owed on its
    /// connection (Redis is idle or nearly, so it starts on the request while the caller's
    /// neighbours prepare theirs); beyond it, requests submitted during the same event-loop tick
    /// leave together in one write. 0 always coalesces per tick.
    public var immediateWriteBelow: Int = 16

    public init(
        topology: Topology,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        tls: RedisTLSConfiguration? = nil,
        clientName: String? = nil,
        protocolVersion: ProtocolVersion = .resp3,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration? = .seconds(30),
        maxConnections: Int = 16,
        pipeliningThreshold: Int = 64,
        idleTimeout: Duration = .seconds(300),
        reconnectBackoff: (initial: Duration, maximum: Duration) = (.milliseconds(50), .seconds(5)),
        decoderLimits: RESPDecoderLimits = .default
    ) {
        self.topology = topology
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.clientName = clientName
        self.protocolVersion = protocolVersion
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.maxConnections = max(1, maxConnections)
        self.pipeliningThreshold = max(1, pipeliningThreshold)
        self.idleTimeout = idleTimeout
        self.reconnectBackoff = reconnectBackoff
        self.decoderLimits = decoderLimits
    }

    /// One Redis server over TCP.
    public static func standalone(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        tls: RedisTLSConfiguration? = nil
    ) -> RedisConnectionOptions {
        RedisConnectionOptions(
            topology: .standalone(.tcp(host: host, port: port)),
            username: username,
            password: password,
            database: database,
            tls: tls
        )
    }

    /// One Redis server on a unix domain socket.
    public static func standalone(
        unixSocket path: String,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0
    ) -> RedisConnectionOptions {
        RedisConnectionOptions(
            topology: .standalone(.unix(path: path)),
            username: username,
            password: password,
            database: database
        )
    }

    /// A master found through Sentinel. `sentinelPassword` authenticates to the sentinels,
    /// `password` to the master and its replicas.
    public static func sentinel(
        masterName: String,
        sentinels: [RedisServerAddress],
        sentinelUsername: String? = nil,
        sentinelPassword: String? = nil,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        tls: RedisTLSConfiguration? = nil
    ) -> RedisConnectionOptions {
        RedisConnectionOptions(
            topology: .sentinel(
                masterName: masterName,
                sentinels: sentinels,
                username: sentinelUsername,
                password: sentinelPassword
            ),
            username: username,
            password: password,
            database: database,
            tls: tls
        )
    }

    /// A Redis Cluster reached through any of `nodes`.
    public static func cluster(
        nodes: [RedisServerAddress],
        username: String? = nil,
        password: String? = nil,
        tls: RedisTLSConfiguration? = nil
    ) -> RedisConnectionOptions {
        RedisConnectionOptions(topology: .cluster(nodes: nodes), username: username, password: password, tls: tls)
    }
}
