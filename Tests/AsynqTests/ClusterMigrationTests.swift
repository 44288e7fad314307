import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import NIOCore
import Testing

/// A queue of an end-to-end cluster test and where its keys live.
struct ClusterQueue: Sendable {
    var name: String
    var slot: Int
    var master: RedisServerAddress

    /// `count` queue names (`<prefix>0`, `<prefix>1`, … as far as needed) whose slots are spread
    /// over every master of `topology`, as evenly as the count allows, in the order found.
    static func spread(count: Int, prefix: String, over topology: RedisClusterTopology) -> [ClusterQueue] {
        let masters = topology.masters.map(\.address)
        let limit = (count + masters.count - 1) / max(1, masters.count)
        var perMaster: [RedisServerAddress: Int] = [:]
        var chosen: [ClusterQueue] = []
        var index = 0
        while chosen.count < count && index < 100_000 {
            let name = "\(prefix)\(index)"
            index += 1
            let slot = RedisClient.clusterSlot(forKey: RedisKeys.pending(name))
            guard let master = topology.master(forSlot: slot)?.address, perMaster[master, default: 0] < limit
            else { continue }
            perMaster[master, default: 0] += 1
            chosen.append(ClusterQueue(name: name, slot: slot, master: master))
        }
        return chosen
    }
}

@Suite("High availability: Redis Cluster slot migration under load", .timeLimit(.minutes(3)))
struct ClusterMigrationTests {
    /// Ten queues spread over the three masters, processed by one server with weighted queues
    /// while two clients enqueue; meanwhile the slot of the busiest queue (with a backlog, and
    /// scheduled tasks coming due) is moved to another master the way `redis-cli --cluster
    /// reshard` does it: `SETSLOT IMPORTING`/`MIGRATING`, `MIGRATE … KEYS` in batches of 20 from
    /// `GETKEYSINSLOT`, `SETSLOT NODE` on every master. During the move the queue's commands get
    /// `ASK` (followed with `ASKING`) and its multi-key scripts `TRYAGAIN` (retried), while the
    /// other queues go on; afterwards `MOVED`. Every task enqueued is processed exactly once and
    /// the final counts in Redis are right. Prints the figures (`[ha-cluster-migration]`).
    @Test func busyQueueSlotMovesWhileTasksFlow() async throws {
        try await withRedisCluster(.init(replicasPerMaster: 0)) { cluster in
            let topology = try await cluster.topology()
            let queues = ClusterQueue.spread(count: 10, prefix: "mq", over: topology)
            #expect(Set(queues.map(\.master)).count == 3)
            let busy = queues[0]
            let source = try #require(cluster.node(at: busy.master))
            let masters = try await cluster.masters()
            let target = try #require(masters.first { $0 !== source })

            let options = cluster.connectionOptions()
            let serverRedis = try RedisClient(options: options, logger: haLogger("ha.cluster.server"))
            let clientRedis = try RedisClient(options: options, logger: haLogger("ha.cluster.client"))
            defer { Task { await serverRedis.close() } }
            defer { Task { await clientRedis.close() } }
            let client = AsynqClient(redis: clientRedis)
            let inspector = AsynqInspector(redis: clientRedis)
            let ledger = HALedger()
            let clock = ledger.clock

            var weights: [String: Int] = [:]
            for (index, queue) in queues.enumerated() { weights[queue.name] = index == 0 ? 6 : 1 + index % 3 }
            var configuration = AsynqServer.Configuration(
                concurrency: 10, queues: weights, logger: haLogger("ha.cluster.server"))
            configuration.taskCheckInterval = .milliseconds(100)
            configuration.delayedTaskCheckInterval = .milliseconds(100)
            configuration.shutdownTimeout = .seconds(2)
            let server = try AsynqServer(redis: serverRedis, configuration: configuration) { _, context in
                ledger.processed(context.taskID, queue: context.queue)
                try await Task.sleep(for: .milliseconds(2))  // a little work, so that a backlog builds up
            }

            // A backlog in the busy queue, so that its slot holds many keys when it moves.
            let backlog = 1500
            for start in stride(from: 0, to: backlog, by: 250) {
                let tasks = (start..<min(start + 250, backlog)).map { index in
                    AsynqTask(type: "work", options: [.queue(busy.name), .taskID("\(busy.name).b\(index)")])
                }
                for result in try await client.enqueueBatch(tasks) { ledger.acknowledge(try result.get().id) }
            }
            // Scheduled tasks of the busy queue that come due while its slot moves: the
            // forwarder moves them to pending during the migration.
            let dueFrom = Date().addingTimeInterval(1)
            for index in 0..<400 {
                let id = "\(busy.name).s\(index)"
                try await client.enqueue(
                    AsynqTask(type: "work"), .queue(busy.name), .taskID(id),
                    .processAt(dueFrom.addingTimeInterval(Double(index) * 0.005)))
                ledger.acknowledge(id)
            }

            let started = clock.now
            let stop = StopFlag()
            let migration = try await withThrowingTaskGroup(of: Void.self) { tasks -> MigrationFigures in
                tasks.addTask { try await server.run() }
                // One client for the busy queue, one for the other nine, round robin.
                tasks.addTask { try await Self.enqueue(into: [busy], client: client, ledger: ledger, until: stop) }
                tasks.addTask {
                    try await Self.enqueue(into: Array(queues.dropFirst()), client: client, ledger: ledger, until: stop)
                }

                try await haEventually("processing to start", timeout: .seconds(20)) {
                    ledger.snapshot.processedCount >= 100
                }
                let migrationStarted = clock.now
                let (movedKeys, batches) = try await Self.migrate(
                    busy.slot, of: busy.name, from: source, to: target, in: cluster)
                let migrationEnded = clock.now
                let othersDuringMigration = ledger.snapshot.processed.filter { id, starts in
                    !id.hasPrefix(busy.name + ".") && starts.contains { $0 >= migrationStarted && $0 <= migrationEnded }
                }.count

                // More load after the hand-over (MOVED for every client), then drain.
                let processedAtHandOver = ledger.snapshot.processedCount
                try await haEventually("300 more tasks processed after the migration", timeout: .seconds(30)) {
                    ledger.snapshot.processedCount >= processedAtHandOver + 300
                }
                stop.set()
                try await haEventually("every acknowledged task processed", timeout: .seconds(60)) {
                    let state = ledger.snapshot
                    return state.acknowledged.keys.allSatisfy { state.processed[$0] != nil }
                }
                await server.shutdown()
                try await tasks.waitForAll()
                return MigrationFigures(
                    duration: clock.now - started,
                    migration: migrationEnded - migrationStarted,
                    movedKeys: movedKeys,
                    batches: batches,
                    othersDuringMigration: othersDuringMigration
                )
            }

            let state = ledger.snapshot
            let duplicates = state.processed.filter { $0.value.count > 1 }.keys.sorted()
            let unknown = state.processed.keys.filter { state.acknowledged[$0] == nil }.sorted()
            #expect(duplicates.isEmpty, "processed more than once: \(duplicates.prefix(20))")
            #expect(unknown.isEmpty, "processed but never acknowledged: \(unknown.prefix(20))")
            #expect(state.enqueueFailures == 0)

            // Final state: nothing pending or active, and the processed counters match.
            var expectedPerQueue: [String: Int] = [:]
            for id in state.acknowledged.keys {
                let queue = String(id[..<(id.lastIndex(of: ".") ?? id.endIndex)])
                expectedPerQueue[queue, default: 0] += 1
            }
            for queue in queues {
                let info = try await inspector.queueInfo(queue.name)
                #expect(info.pending == 0, "\(queue.name) pending")
                #expect(info.active == 0, "\(queue.name) active")
                #expect(info.processedTotal == expectedPerQueue[queue.name], "\(queue.name) processed total")
                #expect(state.processedPerQueue[queue.name] == expectedPerQueue[queue.name])
            }
            // The slot now lives on the target, and the inspector says so.
            let owner = try await cluster.owner(ofSlot: busy.slot)
            #expect(owner.port == target.port)
            let keySlot = try await inspector.clusterKeySlot(queue: busy.name)
            #expect(keySlot == busy.slot)
            let nodes = try await inspector.clusterNodes(queue: busy.name).map(\.address)
            #expect(nodes == ["\(target.host):\(target.port)"])

            var counts = serverRedis.clusterRedirectionCounts
            let clientCounts = clientRedis.clusterRedirectionCounts
            counts.moved += clientCounts.moved
            counts.ask += clientCounts.ask
            counts.tryAgain += clientCounts.tryAgain
            counts.clusterDown += clientCounts.clusterDown
            #expect(counts.ask > 0)
            #expect(counts.moved > 0)
            print(
                """
                [ha-cluster-migration] \(state.acknowledged.count) tasks over \(queues.count) queues \
                (\(expectedPerQueue[busy.name] ?? 0) in the moved queue: a backlog of \(backlog), 400 scheduled) processed in \
                \(migration.duration.haMilliseconds) ms, each exactly once; slot \(busy.slot) moved in \
                \(migration.migration.haMilliseconds) ms (\(migration.movedKeys) keys in \(migration.batches) batches, \
                \(migration.othersDuringMigration) tasks of the other queues processed meanwhile); \
                redirections seen by the server and the client: ASK \(counts.ask), MOVED \(counts.moved), \
                TRYAGAIN \(counts.tryAgain), CLUSTERDOWN \(counts.clusterDown)
                """
            )
        }
    }

    /// The forwarder and the janitor declare every task hash their scripts touch, so that a
    /// slot migration that has moved a queue's `scheduled` (or `completed`) zset and `pending`
    /// list but not yet the task hashes makes Redis refuse the call (`TRYAGAIN`) instead of the
    /// script recreating an empty hash on the importing node — which would push an ID without a
    /// message to `pending` and make `MIGRATE` of the real hash fail with `BUSYKEY`.
    @Test func forwarderAndJanitorWaitForTheTaskHashes() async throws {
        try await withRedisCluster(.init(replicasPerMaster: 0)) { cluster in
            let redis = try RedisClient(options: cluster.connectionOptions(), logger: haLogger("ha.cluster.forward"))
            defer { Task { await redis.close() } }
            let client = AsynqClient(redis: redis)
            let broker = RedisBroker(redis: redis)
            let queue = "fq"
            let slot = RedisClient.clusterSlot(forKey: RedisKeys.pending(queue))
            let now = Date()
            try await client.enqueue(AsynqTask(type: "due"), .queue(queue), .taskID("due"), .processIn(.seconds(1)))
            try await client.enqueue(AsynqTask(type: "waiting"), .queue(queue), .taskID("waiting"))
            try await broker.run(
                try broker.markCompleteCall(
                    try #require(try await broker.dequeue(queue: queue, count: 1, now: now).first?.get()), now: now))
            #expect(try await redis.exists(RedisKeys.completed(queue)) == 1)
            try await client.enqueue(AsynqTask(type: "waiting"), .queue(queue), .taskID("waiting-2"))

            let source = try await cluster.owner(ofSlot: slot)
            let masters = try await cluster.masters()
            let target = try #require(masters.first { $0 !== source })
            let migration = try await cluster.beginSlotMigration(slot, to: target)
            try await migration.moveKeys([
                RedisKeys.scheduled(queue), RedisKeys.pending(queue), RedisKeys.completed(queue),
            ])

            let forward = await #expect(throws: AsynqError.self) {
                try await RedisClient.withClusterRetryTimeout(.zero) {
                    try await broker.forward(
                        from: RedisKeys.scheduled(queue), queue: queue, now: Date().addingTimeInterval(5))
                }
            }
            #expect(forward?.isClusterRetryLater == true)
            let janitor = await #expect(throws: AsynqError.self) {
                try await RedisClient.withClusterRetryTimeout(.zero) {
                    try await broker.deleteExpiredCompleted(
                        queue: queue, now: Date().addingTimeInterval(10 * 86_400), batchSize: 10)
                }
            }
            #expect(janitor?.isClusterRetryLater == true)
            // Nothing was written on the importing node: the migration completes.
            try await migration.finish()

            #expect(
                try await broker.forward(
                    from: RedisKeys.scheduled(queue), queue: queue, now: Date().addingTimeInterval(5)) == 1)
            let message = try #require(try await redis.hgetBuffer(RedisKeys.taskKey(queue, "due"), "msg"))
            #expect(try TaskMessage.decode(message.readableBytesView).type == "due")
            #expect(try await redis.hget(RedisKeys.taskKey(queue, "due"), "state") == "pending")
            #expect(
                try await broker.deleteExpiredCompleted(
                    queue: queue, now: Date().addingTimeInterval(10 * 86_400), batchSize: 10) == 1)
            #expect(try await redis.exists(RedisKeys.taskKey(queue, "waiting")) == 0)
            #expect(try await redis.lrange(RedisKeys.pending(queue), 0, -1) == ["due", "waiting-2"])
        }
    }

    /// Enqueues into `queues` in turn, with IDs `<queue>.<n>`, until `stop` is set.
    private static func enqueue(
        into queues: [ClusterQueue], client: AsynqClient, ledger: HALedger, until stop: StopFlag
    ) async throws {
        var sequence = 0
        while !stop.isSet {
            sequence += 1
            let queue = queues[sequence % queues.count]
            let id = "\(queue.name).\(sequence)"
            do {
                try await client.enqueue(AsynqTask(type: "work"), .queue(queue.name), .taskID(id))
                ledger.acknowledge(id)
            } catch {
                ledger.enqueueFailed()
                Issue.record("enqueue of \(id) failed: \(error)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Moves `slot` the way `redis-cli --cluster reshard` does: `SETSLOT IMPORTING`/`MIGRATING`,
    /// `MIGRATE … KEYS` in batches of 20 keys from `GETKEYSINSLOT` (after the queue's pending
    /// list), `SETSLOT NODE` on every master. Returns how many keys moved in how many batches.
    private static func migrate(
        _ slot: Int, of queue: String, from source: RedisTestServer, to target: RedisTestServer,
        in cluster: RedisTestCluster
    ) async throws -> (keys: Int, batches: Int) {
        let migration = try await cluster.beginSlotMigration(slot, to: target)
        // The queue's pending list first (GETKEYSINSLOT may well return it first): from then on
        // its enqueues find none of their keys on the source and are sent on with ASK.
        try await migration.moveKeys([RedisKeys.pending(queue)])
        var moved = 1
        var batches = 1
        while true {
            let keys: [String] = try await cluster.withNodeConnection(source) {
                try await $0.send(RedisCommand("CLUSTER", "GETKEYSINSLOT", slot, 20)).decode()
            }
            if keys.isEmpty { break }
            try await migration.moveKeys(keys)
            moved += keys.count
            batches += 1
            // Paces the batches as a resharding tool does, so commands meet the slot half-moved.
            try await Task.sleep(for: .milliseconds(5))
        }
        try await migration.finish()
        return (moved, batches)
    }

    private struct MigrationFigures {
        var duration: Duration
        var migration: Duration
        var movedKeys: Int
        var batches: Int
        var othersDuringMigration: Int
    }
}
