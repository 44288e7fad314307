import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

// The transitions of operations.md §0 that the other server suites do not walk through:
// unique locks over a task's whole life, the retry cycle on an injected clock, the forwarder's
// group branch, stale aggregation sets, a shutdown timeout with several tasks in flight, and
// invalid enqueue input.

/// A wall clock a test moves by hand (the server's `now`).
final class ManualWallClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}

@Suite("Server: state transitions of operations.md")
struct ServerStateTransitionTests {
    // MARK: Unique locks

    @Test("a unique lock is held while pending, active and in retry, and released by success")
    func uniqueLockUntilSuccess() async throws {
        try await withServerHarness { h in
            let task = AsynqTask(type: "unique:job", payload: "same")
            let lock = RedisKeys.unique("default", type: task.type, payload: task.payload)
            let attempt = ServerTestRecorder<Int>()
            let gates = [ServerTestGate(), ServerTestGate()]
            // The retry becomes due only when the test moves the server's clock.
            let clock = ManualWallClock(Date())
            let server = try h.makeServer(
                {
                    $0.concurrency = 1
                    $0.now = { clock.now }
                    $0.retryDelay = { _, _, _ in .seconds(60) }
                },
                handler: { _, context in
                    attempt.record(context.retryCount)
                    // Call 1 (fails) and 2 (succeeds) wait for the test; a later task runs through.
                    let call = attempt.values.count
                    if call <= 2 { try await gates[call - 1].wait() }
                    if call == 1 { throw ServerTestError("first attempt fails") }
                }
            )
            let info = try await h.client.enqueue(task, .unique(ttl: .seconds(600)))
            #expect(try await h.redis.get(lock) == info.id, "held while pending")
            await #expect(throws: AsynqError.duplicateTask) {
                try await h.client.enqueue(task, .unique(ttl: .seconds(600)))
            }
            try await withRunningServer(server) { () async throws in
                #expect(try await attempt.wait() == [0])
                #expect(try await h.redis.get(lock) == info.id, "held while active")
                gates[0].open()
                try await h.eventually("task in retry") { try await h.state("default", info.id) == "retry" }
                #expect(try await h.redis.get(lock) == info.id, "held while in retry")
                await #expect(throws: AsynqError.duplicateTask) {
                    try await h.client.enqueue(task, .unique(ttl: .seconds(600)))
                }
                clock.set(clock.now.addingTimeInterval(61))
                #expect(try await attempt.wait(count: 2) == [0, 1])
                gates[1].open()
                try await h.eventually("task done") { try await !h.exists("default", info.id) }
                #expect(try await h.redis.exists(lock) == 0, "released by success")
                let again = try await h.client.enqueue(task, .unique(ttl: .seconds(600)))
                #expect(try await h.redis.get(lock) == again.id, "a new task takes the lock")
                try await h.eventually("second task done") { try await !h.exists("default", again.id) }
            }
        }
    }

    @Test("completion releases the lock; archive keeps it until its TTL; another task's lock is never released")
    func uniqueLockOtherOutcomes() async throws {
        try await withServerHarness { h in
            let server = try h.makeServer { task, _ in
                if task.type == "archive:me" { throw AsynqError.skipRetry("no") }
            }
            let kept = try await h.client.enqueue(
                AsynqTask(type: "keep:me", payload: "k"), .unique(ttl: .seconds(600)), .retention(.seconds(600)))
            let archived = try await h.client.enqueue(
                AsynqTask(type: "archive:me", payload: "a"), .unique(ttl: .seconds(600)))
            let foreign = try await h.client.enqueue(
                AsynqTask(type: "foreign", payload: "f"), .unique(ttl: .seconds(600)))
            let keptLock = RedisKeys.unique("default", type: "keep:me", payload: Data("k".utf8))
            let archivedLock = RedisKeys.unique("default", type: "archive:me", payload: Data("a".utf8))
            let foreignLock = RedisKeys.unique("default", type: "foreign", payload: Data("f".utf8))
            // The lock now belongs to another task (it expired and was taken again).
            _ = try await h.redis.set(foreignLock, "someone-else")
            try await withRunningServer(server) { () async throws in
                try await h.eventually("completed") { try await h.state("default", kept.id) == "completed" }
                try await h.eventually("archived") { try await h.state("default", archived.id) == "archived" }
                try await h.eventually("done") { try await !h.exists("default", foreign.id) }
            }
            #expect(try await h.redis.exists(keptLock) == 0, "completion releases the lock")
            #expect(try await h.redis.get(archivedLock) == archived.id, "archive keeps the lock (Go: until its TTL)")
            #expect(try await h.redis.ttl(archivedLock) > 500)
            #expect(try await h.redis.get(foreignLock) == "someone-else", "a lock held by another ID stays")
        }
    }

    // MARK: Retries and backoff on an injected clock

    @Test("retry cycle on an injected clock: each retry waits its backoff, then the task is archived")
    func retryCycleOnInjectedClock() async throws {
        try await withServerHarness { h in
            let clock = ManualWallClock(Date(timeIntervalSince1970: 1_900_000_000.25))
            let attempts = ServerTestRecorder<Int>()
            let delays = ServerTestRecorder<Duration>()
            let server = try h.makeServer(
                {
                    $0.concurrency = 1
                    $0.now = { clock.now }
                    $0.retryDelay = { retried, error, task in
                        let delay = AsynqServer.defaultRetryDelay(retried, error, task)
                        delays.record(delay)
                        return delay
                    }
                },
                handler: { _, context in
                    attempts.record(context.retryCount)
                    throw ServerTestError("attempt \(context.retryCount) failed")
                }
            )
            let info = try await h.client.enqueue(AsynqTask(type: "flaky"), .maxRetry(2))
            try await withRunningServer(server) { () async throws in
                for retried in 0..<2 {
                    #expect(try await attempts.wait(count: retried + 1).last == retried)
                    try await h.eventually("task in retry") { try await h.state("default", info.id) == "retry" }
                    let failedAt = clock.now
                    let delay = try #require(try await delays.wait(count: retried + 1).last)
                    // Go's default: n⁴ + 15 + R·(n + 1) seconds, R in 0…29.
                    let n = Int64(retried)
                    let base = n * n * n * n + 15
                    #expect((base...(base + 29 * (n + 1))).contains(delay.components.seconds))
                    let message = try #require(try await h.message("default", info.id))
                    #expect(message.retried == Int32(retried + 1))
                    #expect(message.errorMsg == "attempt \(retried) failed")
                    #expect(message.lastFailedAt == Int64(failedAt.timeIntervalSince1970.rounded(.down)))
                    let score = try #require(try await h.redis.zscore(RedisKeys.retry("default"), info.id))
                    let due = (failedAt.timeIntervalSince1970 + Double(delay.components.seconds)).rounded(.down)
                    #expect(score == due)
                    // One second before it is due: the forwarder (every 100 ms) leaves it.
                    clock.set(Date(timeIntervalSince1970: due - 1))
                    try await Task.sleep(for: .milliseconds(400))
                    #expect(try await h.state("default", info.id) == "retry")
                    #expect(attempts.values.count == retried + 1)
                    // Due: forwarded, dequeued and run again.
                    clock.set(Date(timeIntervalSince1970: due + 0.5))
                }
                #expect(try await attempts.wait(count: 3) == [0, 1, 2])
                try await h.eventually("task archived") { try await h.state("default", info.id) == "archived" }
            }
            let message = try #require(try await h.message("default", info.id))
            #expect(message.retried == 2, "archiving does not count a retry")
            #expect(message.errorMsg == "attempt 2 failed")
            #expect(message.lastFailedAt == Int64(clock.now.timeIntervalSince1970.rounded(.down)))
            #expect(
                try await h.redis.zscore(RedisKeys.archived("default"), info.id)
                    == clock.now.timeIntervalSince1970.rounded(.down))
            #expect(try await h.counter(RedisKeys.processedTotal("default")) == 3)
            #expect(try await h.counter(RedisKeys.failedTotal("default")) == 3)
            #expect(try await h.counter(RedisKeys.failed("default", on: clock.now)) == 3, "daily keys use the clock")
        }
    }

    // MARK: Forwarder and aggregation sets

    @Test("a due scheduled or retry task whose hash has a group goes to its group, not to pending")
    func forwardToGroup() async throws {
        try await withServerHarness { h in
            let now = Date()
            let nowSeconds = now.timeIntervalSince1970.rounded(.down)
            for (source, id) in [(RedisKeys.scheduled("q"), "s1"), (RedisKeys.retry("q"), "r1")] {
                var message = TaskMessage()
                message.id = id
                message.type = "grouped"
                message.queue = "q"
                message.groupKey = "g"
                _ = try await h.redis.hset(
                    RedisKeys.taskKey("q", id),
                    [("msg", RESPBytes(try message.encoded())), ("state", "scheduled"), ("group", "g")])
                _ = try await h.redis.zadd(source, [(score: nowSeconds - 5, member: id)])
                #expect(try await h.broker.forward(from: source, queue: "q", now: now) == 1)
                #expect(try await h.state("q", id) == "aggregating")
                #expect(try await h.redis.zcard(source) == 0)
            }
            let members = try await h.redis.zrangeWithScores(RedisKeys.group("q", "g"), 0, -1)
            #expect(members.map(\.member) == ["r1", "s1"])
            #expect(members.allSatisfy { $0.score == nowSeconds })
            #expect(try await h.redis.llen(RedisKeys.pending("q")) == 0)
            #expect(try await h.redis.hexists(RedisKeys.taskKey("q", "s1"), "pending_since") == false)
            // As in Go, the group name is not added to the groups set here.
            #expect(try await h.redis.exists(RedisKeys.groups("q")) == 0)
        }
    }

    @Test("an aggregation set left behind past its deadline returns to its group")
    func staleAggregationSetReclaimed() async throws {
        try await withServerHarness { h in
            let now = Date()
            for id in ["a", "b", "c"] {
                try await h.client.enqueue(AsynqTask(type: "item", payload: id), .queue("q"), .group("g"), .taskID(id))
            }
            let before = try await h.redis.zrangeWithScores(RedisKeys.group("q", "g"), 0, -1)
            let setID = UUID().uuidString.lowercased()
            let ready = try await h.broker.checkAggregation(
                queue: "q", group: "g", setID: setID, tick: now, gracePeriod: .seconds(60), maxDelay: .zero,
                maxSize: 3, now: now)
            #expect(ready)
            let setKey = RedisKeys.aggregationSet("q", "g", setID)
            #expect(try await h.redis.zcard(setKey) == 3)
            #expect(try await h.redis.exists(RedisKeys.group("q", "g")) == 0)
            #expect(try await h.redis.smembers(RedisKeys.groups("q")).isEmpty, "a full group leaves the groups set")
            // Not yet stale (the deadline is now + 120 s).
            try await h.broker.reclaimStaleAggregationSets(queue: "q", now: now.addingTimeInterval(60))
            #expect(try await h.redis.zcard(setKey) == 3)
            try await h.broker.reclaimStaleAggregationSets(queue: "q", now: now.addingTimeInterval(121))
            #expect(try await h.redis.exists(setKey) == 0)
            #expect(try await h.redis.zcard(RedisKeys.aggregationSets("q")) == 0)
            let after = try await h.redis.zrangeWithScores(RedisKeys.group("q", "g"), 0, -1)
            #expect(after.map(\.member) == before.map(\.member))
            #expect(after.map(\.score) == before.map(\.score), "members keep their scores")
            for id in ["a", "b", "c"] { #expect(try await h.state("q", id) == "aggregating") }
            // As in Go, the group name is not re-added to the groups set.
            #expect(try await h.redis.smembers(RedisKeys.groups("q")).isEmpty)
        }
    }

    // MARK: Shutdown

    @Test("shutdown timeout with several tasks in flight: all go back to pending, none is lost")
    func shutdownTimeoutRequeuesEverything() async throws {
        try await withServerHarness { h in
            let started = ServerTestRecorder<String>()
            let server = try h.makeServer({
                $0.concurrency = 3
                $0.shutdownTimeout = .milliseconds(300)
            }) { _, context in
                started.record(context.taskID)
                try await Task.sleep(for: .seconds(60))
            }
            var ids: [String] = []
            for index in 0..<5 { ids.append(try await h.client.enqueue(AsynqTask(type: "long\(index)")).id) }
            try await withRunningServer(server) { () async throws in
                _ = try await started.wait(count: 3)
            }
            let pending = try await h.redis.lrange(RedisKeys.pending("default"), 0, -1)
            #expect(Set(pending) == Set(ids), "every task is pending again")
            #expect(pending.count == 5)
            // The requeued tasks are at the front (the right end): they run next.
            #expect(Set(pending.suffix(3)) == Set(started.values))
            for id in ids {
                #expect(try await h.state("default", id) == "pending")
                #expect(try await h.message("default", id)?.retried == 0)
            }
            #expect(try await h.redis.llen(RedisKeys.active("default")) == 0)
            #expect(try await h.redis.zcard(RedisKeys.lease("default")) == 0)
            #expect(try await h.counter(RedisKeys.processedTotal("default")) == 0)
        }
    }

    // MARK: Bad input

    @Test("invalid queue names and options fail clearly and write nothing")
    func invalidEnqueueInput() async throws {
        try await withServerHarness { h in
            let task = AsynqTask(type: "x", payload: "p")
            let cases: [(String, [TaskOption], AsynqTask)] = [
                ("queue name must contain one or more characters", [.queue("")], task),
                ("queue name must contain one or more characters", [.queue(" \t")], task),
                ("task ID cannot be empty", [.taskID("  ")], task),
                ("Unique TTL cannot be less than 1s", [.unique(ttl: .milliseconds(10))], task),
                ("group key cannot be empty", [.group("")], task),
                ("task typename cannot be empty", [], AsynqTask(type: "")),
            ]
            for (text, options, task) in cases {
                let error = await #expect(throws: AsynqError.self) {
                    try await h.client.enqueue(task, options: options)
                }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message == text)
            }
            #expect(try await h.redis.keys("*").isEmpty, "nothing was written")
            // The client still works, and a server processes the valid task.
            let done = ServerTestRecorder<String>()
            let server = try h.makeServer { task, _ in done.record(task.type) }
            let valid = try await h.client.enqueue(task, .queue("default"))
            try await withRunningServer(server) { () async throws in
                #expect(try await done.wait() == ["x"])
                try await h.eventually("task done") { try await !h.exists("default", valid.id) }
            }
        }
    }
}
