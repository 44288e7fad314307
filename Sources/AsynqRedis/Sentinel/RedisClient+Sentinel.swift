extension RedisClient {
    /// The server commands go to: the standalone server, or the master of a Sentinel group as
    /// the client currently knows it (asking the sentinels if it does not know yet). Throws
    /// `.invalidConfiguration` for a cluster client (see ``clusterTopology(refresh:)``).
    public func masterAddress() async throws -> RedisServerAddress {
        switch backend {
        case .single(_, let sentinel?):
            if let address = sentinel.cachedMaster { return address }
            return try await sentinel.resolveMaster()
        case .single:
            if case .standalone(let address) = options.topology { return address }
            throw RedisClientError(.invalidConfiguration, "unexpected topology")
        case .cluster:
            throw RedisClientError(.invalidConfiguration, "a cluster has one master per shard: use clusterTopology()")
        }
    }
}
