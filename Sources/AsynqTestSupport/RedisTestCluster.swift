public import AsynqRedis
import Synchronization

/// A Redis Cluster started for a test: masters (three by default) with replicas (one each),
/// real `redis-server --cluster-enabled yes` processes on free ports of 127.0.0.1, joined with
/// `redis-cli --cluster create … --cluster-replicas N --cluster-yes`.
///
/// ```swift
/// try await withRedisCluster { cluster in
///     let redis = try RedisClient(options: cluster.connectionOptions())
///     try await cluster.migrateSlot(5718, to: cluster.masters()[1])
/// }
/// ```
///
/// `start` returns once every node reports `cluster_state:ok` and knows every other node.
/// Helpers move slots the way `redis-cli --cluster reshard` does (`CLUSTER SETSLOT … IMPORTING`
/// / `MIGRATING`, `MIGRATE` of the keys, `CLUSTER SETSLOT … NODE`), in one go or step by step to
/// test `ASK` redirections in the middle of a migration.
public final class RedisTestCluster: Sendable {
    public struct Options: Sendable {
        public var masterCount: Int
        public var replicasPerMaster: Int
        /// `requirepass` (and `masterauth`) of every node.
        public var password: String?
        /// `cluster-node-timeout`.
        public var nodeTimeout: Duration
        public var readinessTimeout: Duration

        public init(
            masterCount: Int = 3,
            replicasPerMaster: Int = 1,
            password: String? = nil,
            nodeTimeout: Duration = .milliseconds(2000),
            readinessTimeout: Duration = .seconds(60)
        ) {
            self.masterCount = max(3, masterCount)
            self.replicasPerMaster = max(0, replicasPerMaster)
            self.password = password
            self.nodeTimeout = nodeTimeout
            self.readinessTimeout = readinessTimeout
        }
    }

    public let options: Options
    /// Every node, in the order given to `redis-cli --cluster create`.
    public let nodes: [RedisTestServer]
    private let stopped = Mutex(false)

    private init(options: Options, nodes: [RedisTestServer]) {
        self.options = options
        self.nodes = nodes
    }

    // MARK: Starting

    public static func start(_ options: Options = .init()) async throws -> RedisTestCluster {
        let count = options.masterCount * (1 + options.replicasPerMaster)
        var arguments = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", String(options.nodeTimeout.milliseconds),
            // Replicas sync at once instead of after the default 5 s (a replica that never synced
            // cannot be promoted).
            "--repl-diskless-sync-delay", "0",
        ]
        if let password = options.password { arguments += ["--masterauth", password] }
        let serverOptions = RedisTestServer.Options(password: options.password, extraArguments: arguments)
        var nodes: [RedisTestServer] = []
        do {
            try await withThrowingTaskGroup(of: RedisTestServer.self) { group in
                for _ in 0..<count {
                    group.addTask { try await RedisTestServer.start(serverOptions) }
                }
                // Collect every started server, even when one fails, so all are stopped.
                var firstError: (any Error)?
                while let result = await group.nextResult() {
                    switch result {
                    case .success(let server): nodes.append(server)
                    case .failure(let error): firstError = firstError ?? error
                    }
                }
                if let firstError { throw firstError }
            }
            nodes.sort { $0.port < $1.port }
            let cluster = RedisTestCluster(options: options, nodes: nodes)
            try await cluster.create()
            return cluster
        } catch {
            for node in nodes { await node.stop() }
            throw error
        }
    }

    private func create() async throws {
        var arguments = ["--cluster", "create"] + nodes.map { "\($0.host):\($0.port)" }
        arguments += ["--cluster-replicas", String(options.replicasPerMaster), "--cluster-yes"]
        if let password = options.password { arguments += ["-a", password, "--no-auth-warning"] }
        try await ExternalCommand.runChecked(
            "redis-cli",
            arguments,
            timeout: options.readinessTimeout,
            installHint: RedisTestServer.installHint
        )
        try await waitUntilHealthy()
    }

    /// Polls `CLUSTER INFO`, `CLUSTER NODES` and `INFO replication` on every node until the state
    /// is ok, every slot is assigned, every node is known, every replica is seen as one and has
    /// synced with its master (gossip announces nothing to a client).
    public func waitUntilHealthy(timeout: Duration? = nil) async throws {
        let replicas = options.masterCount * options.replicasPerMaster
        for node in nodes where node.isRunning {
            try await pollUntil(
                "a healthy cluster as seen by node \(node.port)",
                timeout: timeout ?? options.readinessTimeout,
                interval: .milliseconds(50)
            ) {
                let (info, nodesText, replication) = try await withConnection(
                    to: address(of: node), options: node.connectionOptions()
                ) { connection in
                    (
                        try await connection.clusterInfo(), try await connection.clusterNodes(),
                        try await connection.info("replication")
                    )
                }
                if replication.contains("role:slave") && !replication.contains("master_link_status:up") {
                    return false
                }
                let seenReplicas = nodesText.split(whereSeparator: \.isNewline).filter { line in
                    let fields = line.split(separator: " ")
                    return fields.count > 2 && fields[2].split(separator: ",").contains("slave")
                }.count
                return info.contains("cluster_state:ok") && info.contains("cluster_slots_assigned:16384")
                    && info.contains("cluster_known_nodes:\(nodes.count)")
                    && Self.field("cluster_size", in: info) == String(options.masterCount)
                    && seenReplicas == replicas
            }
        }
    }

    private static func field(_ name: String, in info: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }

    // MARK: Addresses and options

    public var seedAddresses: [RedisServerAddress] { nodes.map { address(of: $0) } }

    /// Client options for this cluster (every node as a seed).
    public func connectionOptions() -> RedisConnectionOptions {
        .cluster(nodes: seedAddresses, password: options.password)
    }

    public func address(of node: RedisTestServer) -> RedisServerAddress {
        .tcp(host: node.host, port: node.port)
    }

    public func node(at address: RedisServerAddress) -> RedisTestServer? {
        nodes.first { self.address(of: $0) == address }
    }

    /// Runs `body` with a plain (non-cluster) connection to one node.
    public func withNodeConnection<T>(
        _ node: RedisTestServer,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        try await withConnection(to: address(of: node), options: node.connectionOptions(), body)
    }

    /// The node's cluster ID (`CLUSTER MYID`).
    public func nodeID(of node: RedisTestServer) async throws -> String {
        try await withNodeConnection(node) { try await $0.send(RedisCommand("CLUSTER", "MYID")).decode() }
    }

    /// The slot map as the cluster reports it now.
    public func topology() async throws -> RedisClusterTopology {
        let client = try RedisClient(options: connectionOptions())
        do {
            let topology = try await client.clusterTopology(refresh: true)
            await client.close()
            return topology
        } catch {
            await client.close()
            throw error
        }
    }

    /// The nodes that are masters serving slots now.
    public func masters() async throws -> [RedisTestServer] {
        try await topology().masters.compactMap { node(at: $0.address) }
    }

    /// The master serving `slot` now.
    public func owner(ofSlot slot: Int) async throws -> RedisTestServer {
        guard let master = try await topology().master(forSlot: slot), let server = node(at: master.address) else {
            throw TestSupportError(.notRunning, "no node of the test cluster serves slot \(slot)")
        }
        return server
    }

    // MARK: Slot migration

    /// A slot being moved from one master to another: `IMPORTING` and `MIGRATING` are set, keys
    /// move with ``moveKeys(_:)`` / ``moveAllKeys()``, and ``finish()`` hands the slot over.
    /// Between the two, the source answers `ASK` for keys it no longer has.
    public final class SlotMigration: Sendable {
        public let slot: Int
        public let source: RedisTestServer
        public let target: RedisTestServer
        public let sourceID: String
        public let targetID: String
        let cluster: RedisTestCluster

        init(
            slot: Int,
            source: RedisTestServer,
            target: RedisTestServer,
            sourceID: String,
            targetID: String,
            cluster: RedisTestCluster
        ) {
            self.slot = slot
            self.source = source
            self.target = target
            self.sourceID = sourceID
            self.targetID = targetID
            self.cluster = cluster
        }

        /// `MIGRATE`s these keys (of the slot) from the source to the target.
        public func moveKeys(_ keys: [String]) async throws {
            guard !keys.isEmpty else { return }
            var command = RedisCommand("MIGRATE", target.host, target.port, "", 0, 5000)
            if let password = cluster.options.password { command.append("AUTH", password) }
            command.append("KEYS", keys)
            try await cluster.withNodeConnection(source) { _ = try await $0.send(command) }
        }

        /// Moves every key still in the slot on the source; returns how many moved.
        @discardableResult
        public func moveAllKeys() async throws -> Int {
            var moved = 0
            while true {
                let keys: [String] = try await cluster.withNodeConnection(source) {
                    try await $0.send(RedisCommand("CLUSTER", "GETKEYSINSLOT", slot, 100)).decode()
                }
                if keys.isEmpty { return moved }
                try await moveKeys(keys)
                moved += keys.count
            }
        }

        /// Moves the remaining keys and assigns the slot to the target on every master.
        public func finish() async throws {
            try await moveAllKeys()
            let command = RedisCommand("CLUSTER", "SETSLOT", slot, "NODE", targetID)
            try await cluster.withNodeConnection(target) { _ = try await $0.send(command) }
            try await cluster.withNodeConnection(source) { _ = try await $0.send(command) }
            for master in try await cluster.masters() where master !== source && master !== target {
                try await cluster.withNodeConnection(master) { _ = try await $0.send(command) }
            }
        }
    }

    /// Starts moving `slot` to `target`: `CLUSTER SETSLOT slot IMPORTING <source>` on the target,
    /// then `MIGRATING <target>` on the source. No key moves yet.
    public func beginSlotMigration(_ slot: Int, to target: RedisTestServer) async throws -> SlotMigration {
        let source = try await owner(ofSlot: slot)
        guard source !== target else {
            throw TestSupportError(.commandFailed, "slot \(slot) is already served by node \(target.port)")
        }
        let sourceID = try await nodeID(of: source)
        let targetID = try await nodeID(of: target)
        try await withNodeConnection(target) {
            _ = try await $0.send(RedisCommand("CLUSTER", "SETSLOT", slot, "IMPORTING", sourceID))
        }
        try await withNodeConnection(source) {
            _ = try await $0.send(RedisCommand("CLUSTER", "SETSLOT", slot, "MIGRATING", targetID))
        }
        return SlotMigration(
            slot: slot,
            source: source,
            target: target,
            sourceID: sourceID,
            targetID: targetID,
            cluster: self
        )
    }

    /// Moves `slot` and its keys to `target` in one go.
    public func migrateSlot(_ slot: Int, to target: RedisTestServer) async throws {
        try await beginSlotMigration(slot, to: target).finish()
    }

    // MARK: Stopping

    /// Stops every node (by PID) and removes their directories.
    public func stop() async {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        await withTaskGroup(of: Void.self) { group in
            for node in nodes { group.addTask { await node.stop() } }
        }
    }
}

/// Starts a cluster, runs `body` with it, and stops it whether `body` returns or throws.
public func withRedisCluster<T>(
    _ options: RedisTestCluster.Options = .init(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisTestCluster) async throws -> T
) async throws -> T {
    let cluster = try await RedisTestCluster.start(options)
    do {
        let result = try await body(cluster)
        await cluster.stop()
        return result
    } catch {
        await cluster.stop()
        throw error
    }
}
