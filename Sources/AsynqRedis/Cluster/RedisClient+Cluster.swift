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

extension RedisClient {
    /// `scanKeys` for a cluster client: every master is scanned.
    func clusterScanKeys(match: String?, count: Int, type: String?) async throws -> [String]? {
        guard case .cluster(let router) = backend else { return nil }
        return try await router.scanKeys(match: match, count: count, type: type)
    }
}
