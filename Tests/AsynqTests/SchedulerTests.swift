import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import Logging
import NIOCore
import SwiftProtobuf
import Synchronization
import Testing

// AsynqScheduler against a real redis-server, on a manual clock: the test moves time forward
// and waits until every scheduler loop is parked again, so hundreds of occurrences take no
// real time and nothing depends on sleeping.

private let quiet = Logger(label: "scheduler-test") { _ in SwiftLogNoOpLogHandler() }

private func makeScheduler(
    _ redis: RedisClient,
    _ clock: ManualSchedulerClock,
    _ configure: (inout AsynqScheduler.Configuration) -> Void = { _ in }
) throws -> AsynqScheduler {
    var configuration = AsynqScheduler.Configuration(heartbeatInterval: .seconds(10), logger: quiet)
    configure(&configuration)
    return try AsynqScheduler(redis: redis, configuration: configuration, clock: clock)
}

private let zeroTime = Int64(-62_135_596_800)

private func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

/// Records calls from hooks.
private final class CallLog: Sendable {
    private let calls = Mutex<[String]>([])
    var all: [String] { calls.withLock { $0 } }
    func append(_ call: String) { calls.withLock { $0.append(call) } }
}

@Suite("AsynqScheduler")
struct SchedulerTests {
    @Test("fires on time, writes Go's entries and history, cleans up at shutdown")
    func firesAndWritesEntries() async throws {
        try await withSchedulerRedis { _, redis in
            let clock = ManualSchedulerClock(now: .testInstant(30))
            // Zero means the default heartbeat interval, 10 s (TTL 20 s).
            let scheduler = try makeScheduler(redis, clock) { $0.heartbeatInterval = .zero }
            let task = AsynqTask(type: "email:digest", payload: #"{"list":"daily"}"#)
            let options: [TaskOption] = [.queue("low"), .maxRetry(3), .timeout(.seconds(30))]
            let id = try scheduler.register("*/5 * * * *", task: task, options: options)
            #expect(UUID(uuidString: id) != nil)
            #expect(id == id.lowercased())
            let idParts = scheduler.schedulerID.split(separator: ":")
            #expect(idParts.count == 3)
            #expect(idParts.dropFirst().first == "\(ProcessInfo.processInfo.processIdentifier)")
            #expect(UUID(uuidString: String(idParts.last ?? "")) != nil)
            let entriesKey = RedisKeys.schedulerEntries(scheduler.schedulerID)

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                try await clock.waitForSleepers(2)
                // Like Go, the first heartbeat comes one interval after the start.
                #expect(try await SchedulerRedis.entries(redis, schedulerID: scheduler.schedulerID).isEmpty)

                clock.advance(to: .testInstant(40))
                try await clock.waitForSleepers(2)
                let entries = try await SchedulerRedis.entries(redis, schedulerID: scheduler.schedulerID)
                let entry = try #require(entries.first)
                #expect(entries.count == 1)
                #expect(entry.id == id)
                #expect(entry.spec == "*/5 * * * *")
                #expect(entry.taskType == "email:digest")
                #expect(entry.taskPayload == Data(#"{"list":"daily"}"#.utf8))
                #expect(entry.enqueueOptions == [#"Queue("low")"#, "MaxRetry(3)", "Timeout(30s)"])
                #expect(entry.nextEnqueueTime == Google_Protobuf_Timestamp(seconds: seconds(.testInstant(300))))
                #expect(entry.hasPrevEnqueueTime)
                #expect(entry.prevEnqueueTime.seconds == zeroTime && entry.prevEnqueueTime.nanos == 0)
                let score = try await redis.zscore(RedisKeys.allSchedulers, entriesKey)
                #expect(score == Double(seconds(.testInstant(60))))
                #expect((18...20).contains(try await redis.ttl(entriesKey)))
                #expect(try await SchedulerRedis.pendingIDs(redis, queue: "low").isEmpty)

                clock.advance(to: .testInstant(300))
                try await clock.waitForSleepers(2)
                let pending = try await SchedulerRedis.pendingMessages(redis, queue: "low")
                let first = try #require(pending.first)
                #expect(pending.count == 1)
                #expect(first.message.type == "email:digest")
                #expect(first.message.payload == Data(#"{"list":"daily"}"#.utf8))
                #expect(first.message.queue == "low")
                #expect(first.message.retry == 3)
                #expect(first.message.timeout == 30)
                #expect(first.pendingSince == seconds(.testInstant(300)) * 1_000_000_000)
                let history = try await SchedulerRedis.history(redis, entryID: id)
                #expect(history.count == 1)
                #expect(history.first?.event.taskID == first.message.id)
                #expect(history.first?.event.enqueueTime == Google_Protobuf_Timestamp(date: .testInstant(300)))
                #expect(history.first?.score == Double(seconds(.testInstant(300))))

                // The heartbeat after the fire shows it as the previous enqueue time.
                clock.advance(to: .testInstant(310))
                try await clock.waitForSleepers(2)
                let after = try #require(
                    try await SchedulerRedis.entries(redis, schedulerID: scheduler.schedulerID).first)
                #expect(after.prevEnqueueTime == Google_Protobuf_Timestamp(seconds: seconds(.testInstant(300))))
                #expect(after.nextEnqueueTime == Google_Protobuf_Timestamp(seconds: seconds(.testInstant(600))))
                #expect(scheduler.entries.first?.prev == .testInstant(300))
                #expect(scheduler.entries.first?.next == .testInstant(600))

                await scheduler.shutdown()
                try await group.waitForAll()
            }
            // Shutdown removed the entries and the history; the enqueued task stays.
            #expect(try await redis.exists(entriesKey) == 0)
            #expect(try await redis.zscore(RedisKeys.allSchedulers, entriesKey) == nil)
            #expect(try await redis.exists(RedisKeys.schedulerHistory(id)) == 0)
            #expect(try await SchedulerRedis.pendingIDs(redis, queue: "low").count == 1)
        }
    }

    @Test("pre- and post-enqueue hooks see the task, the options and the result")
    func hooks() async throws {
        try await withSchedulerRedis { _, redis in
            let clock = ManualSchedulerClock(now: .testInstant(0))
            let calls = CallLog()
            let scheduler = try makeScheduler(redis, clock) { config in
                config.preEnqueue = { task, options in
                    calls.append("pre \(task.type) \(options.map(\.description).joined(separator: ","))")
                }
                config.postEnqueue = { info, error in
                    calls.append("post \(info?.id ?? "nil") \(error.map { "\($0)" } ?? "nil")")
                }
            }
            let id = try scheduler.register(
                "@every 1m", task: AsynqTask(type: "hook:test"), options: [.taskID("fixed-id"), .maxRetry(1)])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                try await clock.waitForSleepers(2)
                clock.advance(to: .testInstant(60))
                try await clock.waitForSleepers(2)
                // The second occurrence collides with the fixed task ID: the post hook gets the error.
                clock.advance(to: .testInstant(120))
                try await clock.waitForSleepers(2)
                #expect(
                    calls.all == [
                        #"pre hook:test TaskID("fixed-id"),MaxRetry(1)"#, "post fixed-id nil",
                        #"pre hook:test TaskID("fixed-id"),MaxRetry(1)"#,
                        "post nil \(AsynqError.taskIDConflict)",
                    ])
                // Only the successful enqueue is in the history.
                #expect(try await SchedulerRedis.history(redis, entryID: id).map(\.event.taskID) == ["fixed-id"])
                await scheduler.shutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("time zones: the configured zone and TZ=/CRON_TZ= prefixes")
    func timeZones() async throws {
        try await withSchedulerRedis { _, redis in
            let clock = ManualSchedulerClock(now: .testInstant(30))
            let newYork = try #require(TimeZone(identifier: "America/New_York"))
            let scheduler = try makeScheduler(redis, clock) { $0.timeZone = newYork }
            try scheduler.register("0 9 * * *", task: AsynqTask(type: "tz:new-york"))
            try scheduler.register("CRON_TZ=Asia/Tokyo 0 9 * * *", task: AsynqTask(type: "tz:tokyo"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                try await clock.waitForSleepers(3)
                // 09:00 EST is 14:00 UTC; 09:00 JST is 00:00 UTC, and today's has passed.
                #expect(scheduler.entries.map(\.task.type) == ["tz:new-york", "tz:tokyo"])
                let expectedNext: [Date?] = [Date.testInstant(14 * 3600), Date.testInstant(24 * 3600)]
                #expect(scheduler.entries.map(\.next) == expectedNext)
                clock.advance(to: .testInstant(14 * 3600))
                try await clock.waitForSleepers(3)
                #expect(try await SchedulerRedis.pendingMessages(redis).map(\.message.type) == ["tz:new-york"])
                clock.advance(to: .testInstant(24 * 3600))
                try await clock.waitForSleepers(3)
                #expect(
                    try await SchedulerRedis.pendingMessages(redis).map(\.message.type) == ["tz:new-york", "tz:tokyo"])
                await scheduler.shutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("register while running, unregister, and unknown entries")
    func registerAndUnregister() async throws {
        try await withSchedulerRedis { _, redis in
            let clock = ManualSchedulerClock(now: .testInstant(0))
            let scheduler = try makeScheduler(redis, clock)
            let first = try scheduler.register("@every 1m", task: AsynqTask(type: "first"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                try await clock.waitForSleepers(2)
                let second = try scheduler.register("@every 1m", task: AsynqTask(type: "second"))
                try await clock.waitForSleepers(3)
                try scheduler.unregister(first)
                try await clock.waitForSleepers(2)
                #expect(throws: AsynqError.invalid("asynq: no scheduler entry found")) {
                    try scheduler.unregister(first)
                }
                clock.advance(to: .testInstant(60))
                try await clock.waitForSleepers(2)
                #expect(try await SchedulerRedis.pendingMessages(redis).map(\.message.type) == ["second"])
                clock.advance(to: .testInstant(70))
                try await clock.waitForSleepers(2)
                let entries = try await SchedulerRedis.entries(redis, schedulerID: scheduler.schedulerID)
                #expect(entries.map(\.id) == [second])
                await scheduler.shutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("invalid specs and options, lifecycle errors")
    func errors() async throws {
        try await withSchedulerRedis { _, redis in
            let clock = ManualSchedulerClock(now: .testInstant(0))
            let scheduler = try makeScheduler(redis, clock)
            let task = AsynqTask(type: "t")
            let parseError = #expect(throws: CronParseError.self) { try scheduler.register("61 * * * *", task: task) }
            #expect(parseError?.field == .minute)
            #expect(parseError?.description.hasPrefix("minute field: ") == true)
            #expect(throws: CronParseError.self) { try scheduler.register("* * * *", task: task) }
            #expect(throws: AsynqError.self) { try scheduler.register("* * * * *", task: AsynqTask(type: " ")) }
            #expect(throws: AsynqError.self) { try scheduler.register("* * * * *", task: task, options: [.queue("")]) }
            #expect(scheduler.entries.isEmpty)
            #expect(throws: AsynqError.self) {
                try makeScheduler(redis, clock) { config in
                    config.misfirePolicy = .runLatest
                    config.replicaCoordination = .disabled
                }
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                try await clock.waitForSleepers(1)
                await #expect(throws: AsynqError(.invalidState, "asynq: the scheduler is already running")) {
                    try await scheduler.run()
                }
                await scheduler.shutdown()
                try await group.waitForAll()
            }
            await #expect(throws: AsynqError(.invalidState, "asynq: the scheduler has already been stopped")) {
                try await scheduler.run()
            }
        }
    }

    @Test("replicas sharing Redis enqueue each occurrence exactly once", arguments: [2, 3])
    func replicasDeduplicate(_ replicas: Int) async throws {
        let counts = try await runReplicas(replicas, occurrences: 200, coordination: .claimEachOccurrence)
        print(
            "scheduler replicas=\(replicas) @every 1m: expected=\(counts.expected) enqueued=\(counts.enqueued) "
                + "duplicates=\(counts.duplicates) missing=\(counts.missing) per-replica=\(counts.perReplica)")
        #expect(counts.enqueued == counts.expected)
        #expect(counts.duplicates == 0)
        #expect(counts.missing == 0)
        #expect(counts.perReplica.reduce(0, +) == counts.expected)
    }

    @Test("without coordination (Go's behaviour) replicas enqueue every occurrence once each")
    func replicasWithoutCoordination() async throws {
        // Go's `@every` counts from the start: start on a whole minute so the occurrences match.
        let counts = try await runReplicas(2, occurrences: 20, coordination: .disabled, start: 0)
        print(
            "scheduler replicas=2 coordination disabled: expected=\(counts.expected) enqueued=\(counts.enqueued) "
                + "duplicates=\(counts.duplicates)")
        #expect(counts.enqueued == 2 * counts.expected)
        #expect(counts.duplicates == counts.expected)
        #expect(counts.missing == 0)
    }

    private struct ReplicaCounts {
        var expected: Int
        var enqueued: Int
        var duplicates: Int
        var missing: Int
        var perReplica: [Int]
    }

    /// `replicas` schedulers with the same `@every 1m` entry, each with its own Redis
    /// connection, on one clock; counts the enqueued tasks per occurrence.
    private func runReplicas(
        _ replicas: Int, occurrences: Int, coordination: AsynqScheduler.ReplicaCoordination, start: TimeInterval = 7
    ) async throws -> ReplicaCounts {
        var counts = ReplicaCounts(expected: occurrences, enqueued: 0, duplicates: 0, missing: 0, perReplica: [])
        try await withSchedulerRedis { server, redis in
            let clock = ManualSchedulerClock(now: .testInstant(start))
            var clients: [RedisClient] = []
            var schedulers: [(AsynqScheduler, String)] = []
            for _ in 0..<replicas {
                let client = try RedisClient(options: server.connectionOptions())
                clients.append(client)
                let scheduler = try makeScheduler(client, clock) { $0.replicaCoordination = coordination }
                let id = try scheduler.register(
                    "@every 1m", task: AsynqTask(type: "cron:replica", payload: "tick"), options: [.maxRetry(1)])
                schedulers.append((scheduler, id))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (scheduler, _) in schedulers { group.addTask { try await scheduler.run() } }
                try await clock.waitForSleepers(2 * replicas)
                for occurrence in 1...occurrences {
                    clock.advance(to: .testInstant(TimeInterval(60 * occurrence)))
                    try await clock.waitForSleepers(2 * replicas)
                }
                for (_, id) in schedulers {
                    counts.perReplica.append(try await SchedulerRedis.history(redis, entryID: id).count)
                }
                for (scheduler, _) in schedulers { await scheduler.shutdown() }
                try await group.waitForAll()
            }
            for client in clients { await client.close() }
            let pending = try await SchedulerRedis.pendingMessages(redis)
            let distinct = Set(pending.map(\.pendingSince))
            let expected = Set((1...occurrences).map { seconds(.testInstant(TimeInterval(60 * $0))) * 1_000_000_000 })
            counts.enqueued = pending.count
            counts.duplicates = pending.count - distinct.count
            counts.missing = expected.subtracting(distinct).count
            #expect(distinct.subtracting(expected).isEmpty, "tasks enqueued at unexpected times")
        }
        return counts
    }

    @Test("replicas agree on the entry whatever UTC alias they use; different entries do not collide")
    func replicaEntryIdentity() async throws {
        try await withSchedulerRedis { server, redis in
            let clock = ManualSchedulerClock(now: .testInstant(0))
            let utc = try #require(TimeZone(identifier: "UTC"))
            let clientA = try RedisClient(options: server.connectionOptions())
            let clientB = try RedisClient(options: server.connectionOptions())
            let a = try makeScheduler(clientA, clock) { $0.timeZone = .gmt }
            let b = try makeScheduler(clientB, clock) { $0.timeZone = utc }
            let task = AsynqTask(type: "cron:identity", payload: "x")
            try a.register("* * * * *", task: task)
            try b.register("* * * * *", task: task)
            // Same schedule, another payload: another entry, enqueued as well.
            try b.register("* * * * *", task: AsynqTask(type: "cron:identity", payload: "y"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await a.run() }
                group.addTask { try await b.run() }
                try await clock.waitForSleepers(5)
                for minute in 1...5 {
                    clock.advance(to: .testInstant(TimeInterval(60 * minute)))
                    try await clock.waitForSleepers(5)
                }
                await a.shutdown()
                await b.shutdown()
                try await group.waitForAll()
            }
            let payloads = try await SchedulerRedis.pendingMessages(redis).map {
                String(decoding: $0.message.payload, as: UTF8.self)
            }
            #expect(payloads.filter { $0 == "x" }.count == 5)
            #expect(payloads.filter { $0 == "y" }.count == 5)
            await clientA.close()
            await clientB.close()
        }
    }

    @Test("a replica that stops: another keeps enqueueing without a gap")
    func replicaFailover() async throws {
        try await withSchedulerRedis { server, redis in
            let clock = ManualSchedulerClock(now: .testInstant(0))
            let clientA = try RedisClient(options: server.connectionOptions())
            let clientB = try RedisClient(options: server.connectionOptions())
            let a = try makeScheduler(clientA, clock)
            let b = try makeScheduler(clientB, clock)
            try a.register("@every 1m", task: AsynqTask(type: "cron:failover"))
            try b.register("@every 1m", task: AsynqTask(type: "cron:failover"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                let runA = startService(in: &group) { try await a.run() }
                let runB = startService(in: &group) { try await b.run() }
                try await clock.waitForSleepers(4)
                for minute in 1...3 {
                    clock.advance(to: .testInstant(TimeInterval(60 * minute)))
                    try await clock.waitForSleepers(4)
                }
                // A dies (its task is cancelled: nothing more is written by it).
                runA.kill.fire()
                await runA.done.wait()
                try await clock.waitForSleepers(2)
                for minute in 4...6 {
                    clock.advance(to: .testInstant(TimeInterval(60 * minute)))
                    try await clock.waitForSleepers(2)
                    #expect(try await SchedulerRedis.pendingIDs(redis).count == minute)
                }
                await b.shutdown()
                await runB.done.wait()
                try await group.waitForAll()
            }
            let pending = try await SchedulerRedis.pendingMessages(redis)
            print("scheduler failover: expected=6 enqueued=\(pending.count)")
            #expect(
                pending.map(\.pendingSince)
                    == (1...6).map { seconds(.testInstant(TimeInterval(60 * $0))) * 1_000_000_000 })
            await clientA.close()
            await clientB.close()
        }
    }

    @Test("misfire policy runLatest enqueues the latest missed occurrence once; skip does not")
    func misfire() async throws {
        try await withSchedulerRedis { _, redis in
            let clock = ManualSchedulerClock(now: .testInstant(30))
            let task = AsynqTask(type: "cron:misfire")
            func scheduler(_ policy: AsynqScheduler.MisfirePolicy) throws -> (AsynqScheduler, String) {
                let scheduler = try makeScheduler(redis, clock) { $0.misfirePolicy = policy }
                return (scheduler, try scheduler.register("*/5 * * * *", task: task))
            }
            func pendingTimes() async throws -> [Int64] {
                try await SchedulerRedis.pendingMessages(redis).map { $0.pendingSince / 1_000_000_000 }
            }

            // First run ever: nothing was missed (there is no record yet).
            let (first, _) = try scheduler(.runLatest)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.run() }
                try await clock.waitForSleepers(2)
                #expect(try await pendingTimes().isEmpty)
                clock.advance(to: .testInstant(300))
                try await clock.waitForSleepers(2)
                await first.shutdown()
                try await group.waitForAll()
            }
            #expect(try await pendingTimes() == [seconds(.testInstant(300))])

            // Down from 00:05 to 00:27:10: 00:10, 00:15, 00:20 and 00:25 were missed; only 00:25 runs.
            clock.advance(to: .testInstant(27 * 60 + 10))
            let (second, secondID) = try scheduler(.runLatest)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await second.run() }
                try await clock.waitForSleepers(2)
                #expect(try await pendingTimes() == [seconds(.testInstant(300)), seconds(.testInstant(27 * 60 + 10))])
                #expect(second.entries.first?.prev == .testInstant(25 * 60))
                #expect(try await SchedulerRedis.history(redis, entryID: secondID).count == 1)
                clock.advance(to: .testInstant(30 * 60))
                try await clock.waitForSleepers(2)
                #expect(try await pendingTimes().count == 3)
                await second.shutdown()
                try await group.waitForAll()
            }

            // Down again, restarted with skip: nothing on start.
            clock.advance(to: .testInstant(50 * 60 + 10))
            let (third, _) = try scheduler(.skip)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await third.run() }
                try await clock.waitForSleepers(2)
                #expect(try await pendingTimes().count == 3)
                await third.shutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("@every: a fixed grid with coordination, counted from the start as in Go without")
    func everyAlignment() async throws {
        try await withSchedulerRedis { _, redis in
            let clock = ManualSchedulerClock(now: .testInstant(6.158))
            let aligned = try makeScheduler(redis, clock)
            let goLike = try makeScheduler(redis, clock) { $0.replicaCoordination = .disabled }
            try aligned.register("@every 30s", task: AsynqTask(type: "aligned"))
            try goLike.register("@every 30s", task: AsynqTask(type: "go-like"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await aligned.run() }
                group.addTask { try await goLike.run() }
                try await clock.waitForSleepers(4)
                #expect(aligned.entries.first?.next == .testInstant(30))
                #expect(goLike.entries.first?.next == .testInstant(36))
                clock.advance(to: .testInstant(36))
                try await clock.waitForSleepers(4)
                #expect(aligned.entries.first?.next == .testInstant(60))
                #expect(goLike.entries.first?.next == .testInstant(66))
                await aligned.shutdown()
                await goLike.shutdown()
                try await group.waitForAll()
            }
            // Only the coordinated scheduler keeps a coordination record.
            let records = try await SchedulerRedis.keys(redis, matching: "asynq:{default}:cron:*")
            #expect(records.count == 1)
            let record = try await redis.hgetall(try #require(records.first))
            #expect(record["fire"].map { String(buffer: $0) } == "\(seconds(.testInstant(30)))")
            #expect(record["scheduler"].map { String(buffer: $0) } == aligned.schedulerID)
        }
    }
}
