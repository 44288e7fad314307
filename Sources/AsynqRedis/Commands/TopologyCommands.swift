extension RedisCommandSender {
    // MARK: Cluster

    /// `CLUSTER KEYSLOT key`.
    public func clusterKeySlot(_ key: String) async throws -> Int {
        try await send(RedisCommand("CLUSTER", "KEYSLOT", key)).decode()
    }

    /// `CLUSTER NODES` as text.
    public func clusterNodes() async throws -> String {
        try await send(RedisCommand("CLUSTER", "NODES")).decode()
    }

    /// `CLUSTER SHARDS` (Redis 7+), raw.
    public func clusterShards() async throws -> RESPToken {
        try await send(RedisCommand("CLUSTER", "SHARDS"))
    }

    /// `CLUSTER SLOTS`, raw.
    public func clusterSlots() async throws -> RESPToken {
        try await send(RedisCommand("CLUSTER", "SLOTS"))
    }

    /// `CLUSTER INFO` as text.
    public func clusterInfo() async throws -> String {
        try await send(RedisCommand("CLUSTER", "INFO")).decode()
    }

    // MARK: Sentinel

    /// `SENTINEL GET-MASTER-ADDR-BY-NAME name`; nil when the sentinel does not know the master.
    public func sentinelMasterAddress(_ masterName: String) async throws -> RedisServerAddress? {
        let reply: [String] = try await send(RedisCommand("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)).decode()
        guard reply.count == 2 else { return nil }
        guard let port = Int(reply[1]) else {
            throw RedisClientError(.unexpectedReply, "sentinel returned a bad port: \(reply)")
        }
        return .tcp(host: reply[0], port: port)
    }

    /// `SENTINEL SENTINELS name`: the other sentinels watching the master, as field maps.
    public func sentinelSentinels(_ masterName: String) async throws -> [[String: String]] {
        try await send(RedisCommand("SENTINEL", "SENTINELS", masterName)).decode()
    }

    /// `SENTINEL REPLICAS name`, as field maps.
    public func sentinelReplicas(_ masterName: String) async throws -> [[String: String]] {
        try await send(RedisCommand("SENTINEL", "REPLICAS", masterName)).decode()
    }
}
