extension RedisClient {
    /// The hash slot of `key` in Redis Cluster (CRC16-XMODEM of the key or of its `{hash tag}`,
    /// mod 16384), computed locally; the same as `CLUSTER KEYSLOT key`.
    public static func clusterSlot(forKey key: String) -> Int {
        RedisClusterHashSlot.slot(forKey: key)
    }

    /// The hash slot of `key` in Redis Cluster (see ``clusterSlot(forKey:)-swift.type.method``).
    public func clusterSlot(forKey key: String) -> Int {
        RedisClusterHashSlot.slot(forKey: key)
    }

    /// The cluster's slot map as this client knows it (fetched first when there is none yet, or
    /// when `refresh` is true). Throws `.invalidConfiguration` unless the client is a cluster client.
    public func clusterTopology(refresh: Bool = false) async throws -> RedisClusterTopology {
        guard case .cluster(let router) = backend else {
            throw RedisClientError(.invalidConfiguration, "this client is not connected to a Redis Cluster")
        }
        return try await router.topology(refresh: refresh)
    }

    /// The nodes serving `slot`, master first, then its replicas (Go asynq's `ClusterNodes`
    /// helper: which nodes hold a queue). Fresh from the cluster.
    public func clusterNodes(servingSlot slot: Int) async throws -> [RedisClusterNode] {
        try await clusterTopology(refresh: true).nodes(servingSlot: slot)
    }

    /// The nodes serving the slot of `key`, master first.
    public func clusterNodes(servingKey key: String) async throws -> [RedisClusterNode] {
        try await clusterNodes(servingSlot: RedisClusterHashSlot.slot(forKey: key))
    }
}

/// What a Redis Cluster client met while routing commands, counted since it was created: a
/// way to see slot migrations and failovers at work (and to test them).
public struct RedisClusterRedirectionCounts: Sendable, Hashable {
    /// `MOVED` replies (the slot has a new owner; the map is refreshed).
    public var moved = 0
    /// `ASK` replies (the key is being migrated; the command is sent to the target with `ASKING`).
    public var ask = 0
    /// `TRYAGAIN` replies (a multi-key command whose keys are split by a migration; retried).
    public var tryAgain = 0
    /// `CLUSTERDOWN` replies (retried after refreshing the map).
    public var clusterDown = 0
    /// Nodes that could not be reached with nothing sent (retried after refreshing the map).
    public var unreachable = 0

    public init() {}
}

extension RedisClient {
    /// Set by ``withClusterRetryTimeout(_:_:)``.
    @TaskLocal static var clusterRetryTimeoutOverride: Duration?

    /// Runs `body` with another `clusterRetryTimeout` for the cluster commands it sends (and
    /// those of its child tasks): how long `TRYAGAIN`/`CLUSTERDOWN` replies are retried. A caller
    /// that has other work to do meanwhile — a worker with other queues to serve while one
    /// queue's slot is being migrated — passes a short one and comes back later.
    public static func withClusterRetryTimeout<T: Sendable>(
        _ timeout: Duration,
        _ body: () async throws -> T
    ) async rethrows -> T {
        try await $clusterRetryTimeoutOverride.withValue(timeout, operation: body)
    }

    /// The redirections this client followed so far; all zero unless it is a cluster client.
    public var clusterRedirectionCounts: RedisClusterRedirectionCounts {
        guard case .cluster(let router) = backend else { return RedisClusterRedirectionCounts() }
        return router.redirectionCounts
    }
}

extension RedisClient {
    /// `scanKeys` for a cluster client: every master is scanned.
    func clusterScanKeys(match: String?, count: Int, type: String?) async throws -> [String]? {
        guard case .cluster(let router) = backend else { return nil }
        return try await router.scanKeys(match: match, count: count, type: type)
    }
}
