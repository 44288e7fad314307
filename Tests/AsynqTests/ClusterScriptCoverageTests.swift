import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import NIOCore
import Testing

@Suite("High availability: every broker script on Redis Cluster", .timeLimit(.minutes(3)))
struct ClusterScriptCoverageTests {
    /// Scripts whose keys are global (server, scheduler and semaphore keys), not in a queue's
    /// slot: they run on whichever master holds their key.
    static let globalScripts: Set<String> = [
        "writeServerState", "clearServerState", "listLiveMembers", "writeSchedulerEntries",
        "recordSchedulerEnqueueEvent", "acquireSemaphoreToken",
    ]

    /// `BrokerScripts.all` lists every script constant of the module (the coverage test below
    /// trusts it), checked against the source files.
    @Test func everyScriptIsListed() throws {
        let sources = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Asynq")
        let pattern = try Regex(#"static let (\w+)\s*=\s*RedisScript\("#)
        var declared: Set<String> = []
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: pattern) {
                if let name = match.output[1].substring { declared.insert(String(name)) }
            }
        }
        #expect(declared.count > 50)
        #expect(declared == Set(BrokerScripts.all.keys))
        #expect(Set(BrokerScripts.all.values.map(\.sha1)).count == BrokerScripts.all.count)
    }

    /// Three queues, one on each master of a 3-master cluster (with replicas). A server (with
    /// aggregation, retries, retention, unique tasks), a scheduler (`runLatest`), the client,
    /// the inspector (every read and bulk operation, queue removal) and the broker directly (for
    /// the scripts no public API uses) run against them. Every script of `BrokerScripts.all`
    /// must have run — found in the script caches of the masters, flushed at the start — and
    /// every per-queue script on all three masters; no master may have answered `CROSSSLOT`.
    /// Also checks the global keys (`asynq:queues`, `asynq:servers`, `asynq:schedulers`) and the
    /// inspector's cluster methods. Prints `[ha-cluster-scripts]`.
    @Test func everyScriptRunsOnTheCluster() async throws {
        try await withRedisCluster { cluster in
            let topology = try await cluster.topology()
            let queues = ClusterQueue.spread(count: 3, prefix: "sq", over: topology).map(\.name)
            let masters = try await cluster.masters()
            #expect(Set(queues.map { RedisClient.clusterSlot(forKey: RedisKeys.pending($0)) }).count == 3)
            for master in masters {
                try await cluster.withNodeConnection(master) { connection in
                    try await connection.scriptFlush()
                    _ = try await connection.send(RedisCommand("CONFIG", "RESETSTAT"))
                }
            }
            let redis = try RedisClient(options: cluster.connectionOptions(), logger: haLogger("ha.scripts"))
            defer { Task { await redis.close() } }
            let client = AsynqClient(redis: redis)
            let inspector = AsynqInspector(redis: redis)
            let broker = RedisBroker(redis: redis)

            try await Self.runServerAndScheduler(redis: redis, client: client, inspector: inspector, queues: queues)
            #expect(Set(try await inspector.queues()) == Set(queues))
            for queue in queues {
                try await Self.checkClusterMethods(queue, inspector: inspector, topology: topology)
                try await Self.inspectorReads(queue, inspector: inspector)
                try await Self.directCalls(queue, broker: broker, inspector: inspector)
                try await Self.inspectorWrites(queue, client: client, inspector: inspector)
            }
            try await Self.removeQueues(queues, client: client, inspector: inspector)
            #expect(try await inspector.queues().isEmpty)

            // What ran where: the masters' script caches (EVALSHA of an unknown script answers
            // NOSCRIPT and the client sends EVAL, which caches it on that node).
            let scripts = BrokerScripts.all.sorted { $0.key < $1.key }
            var ranOn: [String: Set<Int>] = [:]
            for master in masters {
                let present = try await cluster.withNodeConnection(master) { connection in
                    try await connection.scriptExists(scripts.map(\.value))
                }
                for (script, exists) in zip(scripts, present) where exists {
                    ranOn[script.key, default: []].insert(master.port)
                }
                let errors = try await cluster.withNodeConnection(master) { try await $0.info("errorstats") }
                #expect(!errors.contains("CROSSSLOT"), "master \(master.port): \(errors)")
            }
            let neverRun = scripts.map(\.key).filter { ranOn[$0] == nil }
            #expect(neverRun.isEmpty, "scripts never run: \(neverRun)")
            let perQueue = Set(BrokerScripts.all.keys).subtracting(Self.globalScripts)
            let notOnEveryMaster = perQueue.filter { (ranOn[$0]?.count ?? 0) != masters.count }.sorted()
            #expect(notOnEveryMaster.isEmpty, "per-queue scripts not run on every master: \(notOnEveryMaster)")
            print(
                """
                [ha-cluster-scripts] \(scripts.count - neverRun.count) of \(scripts.count) scripts run; \
                \(perQueue.count - notOnEveryMaster.count) of \(perQueue.count) per-queue scripts on each of the \
                \(masters.count) masters; CROSSSLOT replies: none
                """
            )
        }
    }

    // MARK: - Phases

    /// A server and a scheduler at work on every queue: enqueue variants, dequeue, done,
    /// complete, retry, archive, forward, aggregation, recovery, janitor, heartbeats, cron claims.
    private static func runServerAndScheduler(
        redis: RedisClient, client: AsynqClient, inspector: AsynqInspector, queues: [String]
    ) async throws {
        let seen = ServerTestRecorder<String>()
        var configuration = AsynqServer.Configuration(
            concurrency: 6, queues: Dictionary(uniqueKeysWithValues: queues.map { ($0, 1) }),
            logger: haLogger("ha.scripts.server"))
        configuration.taskCheckInterval = .milliseconds(100)
        configuration.delayedTaskCheckInterval = .milliseconds(200)
        configuration.janitorInterval = .milliseconds(200)
        configuration.groupGracePeriod = .seconds(1)
        configuration.groupMaxSize = 2
        configuration.retryDelay = { _, _, _ in .seconds(1) }
        configuration.shutdownTimeout = .seconds(2)
        configuration.groupAggregator = GroupAggregatorFunc { _, tasks in
            AsynqTask(type: "aggregated", payload: "\(tasks.count)")
        }
        let server = try AsynqServer(redis: redis, configuration: configuration) { task, context in
            seen.record("\(context.queue) \(task.type)")
            if task.type == "fail" { throw ServerTestError("boom") }
        }
        let scheduler = try AsynqScheduler(
            redis: redis,
            configuration: .init(
                heartbeatInterval: .seconds(1), misfirePolicy: .runLatest, logger: haLogger("ha.scripts.scheduler"))
        )
        for queue in queues {
            try scheduler.register("@every 1s", task: AsynqTask(type: "cron"), options: [.queue(queue)])
        }
        let expected = Set(
            queues.flatMap { queue in
                ["plain", "unique", "kept", "kept-unique", "fail", "later", "later-unique", "aggregated", "cron"]
                    .map { "\(queue) \($0)" }
            })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            group.addTask { try await scheduler.run() }
            for queue in queues {
                try await enqueueEveryKind(into: queue, client: client)
            }
            try await haEventually("every kind of task processed in every queue", timeout: .seconds(30)) {
                let values = seen.values
                // "fail" twice: the first attempt is retried, the second archived.
                return expected.isSubset(of: Set(values))
                    && queues.allSatisfy { queue in values.filter { $0 == "\(queue) fail" }.count >= 2 }
            }
            try await haEventually("the archived failures", timeout: .seconds(10)) {
                for queue in queues where try await inspector.queueInfo(queue).archived != 1 { return false }
                return true
            }
            // The global keys: one live server, the scheduler's entries.
            let servers = try await inspector.servers()
            #expect(servers.map(\.id) == [server.serverID])
            #expect(Set(servers.first?.queues.keys.map { $0 } ?? []) == Set(queues))
            #expect(try await inspector.schedulerEntries().count == queues.count)
            await server.shutdown()
            await scheduler.shutdown()
            try await group.waitForAll()
        }
        #expect(try await inspector.servers().isEmpty)
        #expect(try await inspector.schedulerEntries().isEmpty)
    }

    private static func enqueueEveryKind(into queue: String, client: AsynqClient) async throws {
        let unique = TaskOption.unique(ttl: .seconds(60))
        try await client.enqueue(AsynqTask(type: "plain"), .queue(queue))
        try await client.enqueue(AsynqTask(type: "unique", payload: queue), .queue(queue), unique)
        try await client.enqueue(AsynqTask(type: "kept"), .queue(queue), .retention(.seconds(60)))
        try await client.enqueue(
            AsynqTask(type: "kept-unique", payload: queue), .queue(queue), .retention(.seconds(60)), unique)
        try await client.enqueue(AsynqTask(type: "fail"), .queue(queue), .maxRetry(1))
        try await client.enqueue(AsynqTask(type: "later"), .queue(queue), .processIn(.seconds(1)))
        try await client.enqueue(
            AsynqTask(type: "later-unique", payload: queue), .queue(queue), .processIn(.seconds(1)), unique)
        try await client.enqueue(AsynqTask(type: "grouped"), .queue(queue), .group("g"))
        try await client.enqueue(AsynqTask(type: "grouped-unique", payload: queue), .queue(queue), .group("g"), unique)
    }

    /// `CLUSTER KEYSLOT` and the nodes serving the queue (its master and replica).
    private static func checkClusterMethods(
        _ queue: String, inspector: AsynqInspector, topology: RedisClusterTopology
    ) async throws {
        let slot = try await inspector.clusterKeySlot(queue: queue)
        #expect(slot == RedisClient.clusterSlot(forKey: RedisKeys.pending(queue)))
        let nodes = try await inspector.clusterNodes(queue: queue)
        let expected = topology.nodes(servingSlot: slot)
        #expect(nodes.map(\.address) == expected.map(\.address.description))
        #expect(nodes.map(\.id) == expected.map(\.id))
        #expect(nodes.count == 2)
    }

    /// Statistics, history, groups, task lists and one task.
    private static func inspectorReads(_ queue: String, inspector: AsynqInspector) async throws {
        let info = try await inspector.queueInfo(queue)
        #expect(info.pending == 0 && info.active == 0 && info.scheduled == 0 && info.retry == 0)
        #expect(info.archived == 1 && info.completed == 2)
        #expect(info.processedTotal >= 10 && info.failedTotal == 2)
        #expect(info.memoryUsage > 0)
        let history = try await inspector.history(queue: queue, days: 2)
        #expect(history.count == 2 && history[0].processed == info.processed)
        #expect(try await inspector.groups(queue: queue).isEmpty)
        let completed = try await inspector.listTasks(queue: queue, state: .completed)
        #expect(Set(completed.map(\.type)) == ["kept", "kept-unique"])
        let archived = try await inspector.listTasks(queue: queue, state: .archived)
        #expect(archived.map(\.type) == ["fail"] && archived.first?.lastError == "boom")
        #expect(try await inspector.listTasks(queue: queue, state: .pending).isEmpty)
        #expect(try await inspector.listTasks(queue: queue, state: .active).isEmpty)
        let id = try #require(archived.first?.id)
        #expect(try await inspector.taskInfo(queue: queue, id: id).state == .archived)
    }

    /// The scripts no public API runs (Go-compatible variants kept for completeness): the
    /// single and batched dequeue, enqueue without notification, forward without notification,
    /// requeue, and the x/rate semaphore; and the janitor's, which only runs for expired tasks.
    private static func directCalls(_ queue: String, broker: RedisBroker, inspector: AsynqInspector) async throws {
        let now = Date()
        let seconds = Int(now.timeIntervalSince1970)
        let nanoseconds = Int(now.timeIntervalSince1970 * 1e9)
        func message(_ id: String, unique: Bool = false) throws -> (TaskMessage, Data) {
            var message = TaskMessage()
            message.id = id
            message.type = "direct"
            message.queue = queue
            message.retry = 3
            message.timeout = 60
            if unique { message.uniqueKey = RedisKeys.unique(queue, type: "direct", payload: nil) }
            return (message, try message.encoded())
        }
        let (first, firstBytes) = try message("direct-1")
        #expect(
            try await broker.run(
                RedisScriptCall(
                    BrokerScripts.enqueue, keys: [RedisKeys.taskKey(queue, first.id), RedisKeys.pending(queue)],
                    arguments: [RESPBytes(firstBytes), first.id, nanoseconds])
            ).int == 1)
        let (second, secondBytes) = try message("direct-2", unique: true)
        #expect(
            try await broker.run(
                RedisScriptCall(
                    BrokerScripts.enqueueUnique,
                    keys: [second.uniqueKey, RedisKeys.taskKey(queue, second.id), RedisKeys.pending(queue)],
                    arguments: [second.id, 60, RESPBytes(secondBytes), nanoseconds])
            ).int == 1)
        // Single dequeue (oldest first), then the batched one.
        let single = try await broker.run(
            RedisScriptCall(
                BrokerScripts.dequeue,
                keys: [
                    RedisKeys.pending(queue), RedisKeys.paused(queue), RedisKeys.active(queue), RedisKeys.lease(queue),
                ],
                arguments: [seconds + 30, RedisKeys.taskKeyPrefix(queue)]))
        let dequeued = try TaskMessage.decode(try #require(single.byteBuffer).readableBytesView)
        #expect(dequeued.id == first.id)
        let batch = try await broker.dequeue(queue: queue, count: 5, now: now)
        #expect(try batch.map { try $0.get().id } == [second.id])
        #expect(try await inspector.queueInfo(queue).active == 2)
        for task in [dequeued, second] { try await broker.run(broker.requeueCall(task)) }
        // A due scheduled task, forwarded by the plain forward script.
        let (third, thirdBytes) = try message("direct-3")
        try await broker.run(broker.scheduleCall(third, encoded: thirdBytes, processAt: now.addingTimeInterval(-1)))
        let forwarded = try await broker.run(
            RedisScriptCall(
                BrokerScripts.forward, keys: [RedisKeys.scheduled(queue), RedisKeys.pending(queue)],
                arguments: [
                    seconds, RedisKeys.taskKeyPrefix(queue), nanoseconds,
                    RedisKeys.groupKeyPrefix(queue),
                ]))
        #expect(forwarded.int == 1)
        let info = try await inspector.queueInfo(queue)
        #expect(info.pending == 3 && info.active == 0 && info.scheduled == 0)
        // x/rate: a token of a semaphore whose key is global.
        let token = try await broker.run(
            RedisScriptCall(
                BrokerScripts.acquireSemaphoreToken, keys: ["asynq:sema:\(queue)"],
                arguments: [2, seconds, seconds + 60, first.id]))
        #expect(token.int == 1)
        #expect(try await inspector.deleteAll(queue: queue, state: .pending) == 3)
        // The janitor's script, for the two completed tasks (retention 60 s), a little early.
        #expect(
            try await broker.deleteExpiredCompleted(queue: queue, now: now.addingTimeInterval(120), batchSize: 10) == 2)
        #expect(try await inspector.queueInfo(queue).completed == 0)
    }

    /// Every single-task and bulk operation of the inspector.
    private static func inspectorWrites(_ queue: String, client: AsynqClient, inspector: AsynqInspector) async throws {
        var scheduled: [String] = []
        for index in 0..<4 {
            let info = try await client.enqueue(
                AsynqTask(type: "s\(index)"), .queue(queue), .processIn(.seconds(3600)))
            scheduled.append(info.id)
        }
        #expect(try await inspector.listTasks(queue: queue, state: .scheduled).count == 4)
        try await inspector.updateTaskPayload(queue: queue, id: scheduled[0], payload: Data("new".utf8))
        #expect(try await inspector.taskInfo(queue: queue, id: scheduled[0]).payload == Data("new".utf8))
        try await inspector.runTask(queue: queue, id: scheduled[0])
        try await inspector.archiveTask(queue: queue, id: scheduled[1])
        try await inspector.deleteTask(queue: queue, id: scheduled[2])
        #expect(try await inspector.runAll(queue: queue, state: .archived) == 2)  // "fail" and s1
        #expect(try await inspector.archiveAll(queue: queue, state: .scheduled) == 1)  // s3
        #expect(try await inspector.archiveAll(queue: queue, state: .pending) == 3)  // s0, "fail", s1
        #expect(try await inspector.deleteAll(queue: queue, state: .archived) == 4)

        // Aggregating tasks of a group: listed, run, archived, deleted.
        func group(_ count: Int) async throws {
            for _ in 0..<count { try await client.enqueue(AsynqTask(type: "member"), .queue(queue), .group("h")) }
        }
        try await group(2)
        #expect(try await inspector.groups(queue: queue).map { "\($0.group) \($0.size)" } == ["h 2"])
        #expect(try await inspector.listTasks(queue: queue, state: .aggregating, group: "h").count == 2)
        #expect(try await inspector.runAll(queue: queue, state: .aggregating, group: "h") == 2)
        try await group(2)
        #expect(try await inspector.archiveAll(queue: queue, state: .aggregating, group: "h") == 2)
        try await group(2)
        #expect(try await inspector.deleteAll(queue: queue, state: .aggregating, group: "h") == 2)
        #expect(try await inspector.deleteAll(queue: queue, state: .archived) == 2)

        try await inspector.pause(queue: queue)
        #expect(try await inspector.queueInfo(queue).paused)
        try await inspector.unpause(queue: queue)
        let info = try await inspector.queueInfo(queue)
        #expect(info.pending == 2 && info.archived == 0 && info.scheduled == 0 && info.aggregating == 0)
    }

    /// Removal: refused while tasks are pending (the script runs and says so), then forced.
    private static func removeQueues(_ queues: [String], client: AsynqClient, inspector: AsynqInspector) async throws {
        for queue in queues {
            await #expect(throws: AsynqError.self) { try await inspector.deleteQueue(queue) }
            try await inspector.deleteQueue(queue, force: true)
        }
    }
}
