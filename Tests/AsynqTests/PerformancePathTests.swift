import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The fast paths of the processor against a real redis-server: pipelined acknowledgements
// under a crash, the batched dequeue next to Go's single dequeue, and wake-ups that never come.

@Suite("Server: performance paths")
struct PerformancePathTests {
    // MARK: - Crash during an acknowledgement batch

    /// The `asynq` executable built next to this test bundle (`swift build --build-tests` and
    /// `swift test` build every product into the same directory).
    static func asynqExecutable() -> String? {
        let bundle =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: bundle).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("asynq").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    @Test(
        "SIGKILL of a worker process with acknowledgements in flight loses no task; only unacknowledged ones run again"
    )
    func crashDuringAcknowledgementBatch() async throws {
        let executable = try #require(Self.asynqExecutable(), "the asynq executable is not built next to the tests")
        try await withServerHarness { h in
            let count = 20_000
            for first in stride(from: 0, to: count, by: 500) {
                let batch = (first..<min(first + 500, count)).map { AsynqTask(type: "crash:noop", payload: "\($0)") }
                for result in try await h.client.enqueueBatch(batch) { _ = try result.get() }
            }
            // A separate worker process (concurrency 50, so acknowledgements go in batches).
            let worker = try await SupervisedProcess.launch(
                SupervisedProcess.Configuration(
                    executable: executable,
                    arguments: [
                        "bench-worker", "--redis", "127.0.0.1:\(h.redisServer.port)", "--concurrency", "50",
                        "--expect", String(count), "--until-killed",
                    ],
                    readinessTimeout: .seconds(30),
                    isReadyLine: { $0 == "started" }
                )
            )
            try await h.eventually("the worker has processed some tasks", timeout: .seconds(30)) {
                try await h.counter(RedisKeys.processedTotal("default")) >= 2_000
            }
            // Freeze Redis so the worker's next acknowledgement pipeline is written but not
            // answered, then crash the worker and let Redis read what reached it.
            try h.redisServer.pause()
            try await Task.sleep(for: .milliseconds(100))
            await worker.kill()
            try h.redisServer.resume()

            // Every task is exactly once either acknowledged (hash deleted, counted) or still
            // pending/active with its hash — nothing lost, nothing counted twice.
            let processed = try await h.counter(RedisKeys.processedTotal("default"))
            let pending = try await h.redis.lrange(RedisKeys.pending("default"), 0, -1)
            let active = try await h.redis.lrange(RedisKeys.active("default"), 0, -1)
            let leased = try await h.redis.zrange(RedisKeys.lease("default"), 0, -1)
            #expect(processed < count, "the worker was killed before it finished")
            #expect(processed + pending.count + active.count == count)
            #expect(Set(pending).count == pending.count)
            #expect(Set(active).count == active.count)
            #expect(Set(pending).isDisjoint(with: active))
            #expect(Set(leased) == Set(active))
            let hashes = try await h.redis.scanKeys(match: "asynq:{default}:t:*")
            #expect(hashes.count == pending.count + active.count, "acknowledged tasks are deleted, the others kept")
            for id in active.prefix(50) {
                #expect(try await h.state("default", id) == "active")
            }
            #expect(try await h.counter(RedisKeys.failedTotal("default")) == 0)

            // Another server, 61 s later as far as leases go, recovers the active tasks and
            // processes everything left: exactly the unacknowledged tasks, each once.
            let seen = ServerTestRecorder<String>()
            let shifted: @Sendable () -> Date = { Date().addingTimeInterval(61) }
            let server = try h.makeServer({
                $0.concurrency = 20
                $0.now = shifted
                $0.retryDelay = { _, _, _ in .zero }
            }) { _, context in
                seen.record(context.taskID)
            }
            let leftover = pending.count + active.count
            try await withRunningServer(server) { () async throws in
                if leftover > 0 { try await seen.wait(count: leftover, timeout: .seconds(60)) }
                try await h.eventually("queue drained", timeout: .seconds(30)) {
                    let pending = try await h.redis.llen(RedisKeys.pending("default"))
                    let active = try await h.redis.llen(RedisKeys.active("default"))
                    let retry = try await h.redis.zcard(RedisKeys.retry("default"))
                    let hashes = try await h.redis.scanKeys(match: "asynq:{default}:t:*")
                    return pending == 0 && active == 0 && retry == 0 && hashes.isEmpty
                }
            }
            let rerun = seen.values
            #expect(rerun.count == leftover, "each unacknowledged task ran once more")
            #expect(Set(rerun) == Set(pending).union(active), "no acknowledged task ran again")
            #expect(try await h.redis.zcard(RedisKeys.archived("default")) == 0)
        }
    }

    @Test("a graceful shutdown in the middle of a drain leaves every task processed once or pending, none active")
    func shutdownDuringDrain() async throws {
        try await withServerHarness { h in
            let count = 20_000
            for first in stride(from: 0, to: count, by: 500) {
                let batch = (first..<min(first + 500, count)).map { AsynqTask(type: "drain", payload: "\($0)") }
                for result in try await h.client.enqueueBatch(batch) { _ = try result.get() }
            }
            let seen = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.concurrency = 10 }) { _, context in
                seen.record(context.taskID)
            }
            // Stop while acknowledgements (and the dequeues sent with them) are in flight.
            try await withRunningServer(server) { () async throws in
                _ = try await seen.wait(count: 500, timeout: .seconds(30))
            }
            let processed = try await h.counter(RedisKeys.processedTotal("default"))
            let pending = try await h.redis.lrange(RedisKeys.pending("default"), 0, -1)
            #expect(try await h.redis.llen(RedisKeys.active("default")) == 0)
            #expect(try await h.redis.zcard(RedisKeys.lease("default")) == 0)
            let ran = seen.values
            #expect(Set(ran).count == ran.count, "no task ran twice")
            #expect(ran.count == processed, "every task that ran was acknowledged")
            #expect(processed < count, "the shutdown came in the middle of the drain")
            #expect(processed + pending.count == count, "the others are back in pending")
            #expect(Set(pending).isDisjoint(with: ran))
            for id in pending.prefix(20) {
                #expect(try await h.state("default", id) == "pending")
            }
        }
    }

    @Test("refilled acknowledgement pipelines never run more handlers at once than the concurrency")
    func concurrencyIsNeverExceeded() async throws {
        try await withServerHarness { h in
            let count = 3_000
            for first in stride(from: 0, to: count, by: 500) {
                let batch = (first..<min(first + 500, count)).map { AsynqTask(type: "bound", payload: "\($0)") }
                for result in try await h.client.enqueueBatch(batch) { _ = try result.get() }
            }
            let running = Mutex((now: 0, peak: 0))
            let seen = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.concurrency = 4 }) { _, context in
                running.withLock {
                    $0.now += 1
                    $0.peak = max($0.peak, $0.now)
                }
                // Some handlers return at once, others after a suspension, so acknowledgements
                // (and the dequeues sent after them) overlap with running handlers.
                if context.taskID.utf8.last.map({ $0 % 2 == 0 }) == true { await Task.yield() }
                running.withLock { $0.now -= 1 }
                seen.record(context.taskID)
            }
            try await withRunningServer(server) { () async throws in
                _ = try await seen.wait(count: count, timeout: .seconds(60))
            }
            #expect(running.withLock { $0.peak } <= 4)
            #expect(Set(seen.values).count == count, "every task ran once")
            #expect(try await h.counter(RedisKeys.processedTotal("default")) == count)
        }
    }

    // MARK: - Go's single dequeue next to the batched dequeue

    @Test("Go's single dequeue and the batched dequeue interleaved on one queue leave consistent state")
    func singleAndBatchedDequeueInterleaved() async throws {
        try await withServerHarness { h in
            let count = 600
            var enqueued: [String] = []
            for first in stride(from: 0, to: count, by: 100) {
                let batch = (first..<min(first + 100, count)).map { AsynqTask(type: "mix", payload: "\($0)") }
                for result in try await h.client.enqueueBatch(batch) { enqueued.append(try result.get().id) }
            }
            let q = "default"
            let leaseExpiry = Int(Date().timeIntervalSince1970) + 30
            // Four concurrent consumers: two Go-style (one task per script call), two batched.
            let taken = try await withThrowingTaskGroup(of: [String].self) { group in
                for consumer in 0..<4 {
                    group.addTask {
                        var ids: [String] = []
                        while true {
                            if consumer % 2 == 0 {
                                let reply = try await h.redis.run(
                                    BrokerScripts.dequeue,
                                    keys: [
                                        RedisKeys.pending(q), RedisKeys.paused(q), RedisKeys.active(q),
                                        RedisKeys.lease(q),
                                    ],
                                    arguments: [leaseExpiry, RedisKeys.taskKeyPrefix(q)]
                                )
                                guard let buffer = reply.byteBuffer else { break }
                                ids.append(try TaskMessage.decode(buffer.readableBytesView).id)
                            } else {
                                let tasks = try await h.broker.dequeueTasks(
                                    queue: q, count: 7, now: Date(timeIntervalSince1970: TimeInterval(leaseExpiry - 30))
                                )
                                if tasks.isEmpty { break }
                                for case .task(let message) in tasks { ids.append(message.id) }
                            }
                        }
                        return ids
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(taken.count == count)
            #expect(Set(taken) == Set(enqueued), "every task dequeued exactly once")
            #expect(try await h.redis.llen(RedisKeys.pending(q)) == 0)
            let active = try await h.redis.lrange(RedisKeys.active(q), 0, -1)
            #expect(active.count == count)
            #expect(Set(active) == Set(enqueued))
            let leases = try await h.redis.zrangeWithScores(RedisKeys.lease(q), 0, -1)
            #expect(leases.count == count)
            #expect(leases.allSatisfy { Int($0.score) == leaseExpiry })
            for id in enqueued.prefix(100) {
                let fields = try await h.redis.hgetall(RedisKeys.taskKey(q, id))
                #expect(fields["state"].map { String(buffer: $0) } == "active")
                #expect(fields["pending_since"] == nil)
            }
            // Each task is then acknowledged with the single-task script: all of them count.
            let messages = try await withThrowingTaskGroup(of: TaskMessage?.self) { group in
                for id in enqueued { group.addTask { try await h.message(q, id) } }
                return try await group.reduce(into: [TaskMessage]()) { if let message = $1 { $0.append(message) } }
            }
            let results = try await h.broker.run(pipeline: messages.map { h.broker.doneCall($0, now: Date()) })
            for result in results { _ = try result.get() }
            #expect(try await h.counter(RedisKeys.processedTotal(q)) == count)
            #expect(try await h.redis.llen(RedisKeys.active(q)) == 0)
            #expect(try await h.redis.zcard(RedisKeys.lease(q)) == 0)
            #expect(try await h.redis.scanKeys(match: "asynq:{default}:t:*").isEmpty)
        }
    }

    @Test("the batched dequeue keeps FIFO order and stops at the end of the list")
    func batchedDequeueOrder() async throws {
        try await withServerHarness { h in
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await h.client.enqueue(AsynqTask(type: "order", payload: "\(index)")).id)
            }
            let first = try await h.broker.dequeueTasks(queue: "default", count: 3, now: Date())
            let second = try await h.broker.dequeueTasks(queue: "default", count: 10, now: Date())
            func taskIDs(_ tasks: [DequeuedTask]) -> [String] {
                tasks.compactMap { if case .task(let message) = $0 { message.id } else { nil } }
            }
            #expect(taskIDs(first) == Array(ids.prefix(3)))
            #expect(taskIDs(second) == Array(ids.suffix(2)))
            #expect(try await h.broker.dequeueTasks(queue: "default", count: 10, now: Date()).isEmpty)
        }
    }

    // MARK: - Missed wake-ups

    @Test("a notification consumed while the queue was paused is not needed: the poll finds the tasks")
    func notificationWhilePausedIsNotNeeded() async throws {
        try await withServerHarness { h in
            let runs = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.taskCheckInterval = .milliseconds(200) }) { _, context in
                runs.record(context.taskID)
            }
            try await withRunningServer(server) { () async throws in
                await server.waitUntilSubscribed()
                _ = try await h.redis.set(RedisKeys.paused("default"), "1")
                // The push makes the list non-empty: the one notification arrives now, while
                // the queue is paused, and the fetch loop finds nothing.
                let info = try await h.client.enqueue(AsynqTask(type: "paused"))
                try await Task.sleep(for: .milliseconds(300))
                #expect(runs.values.isEmpty)
                #expect(try await h.state("default", info.id) == "pending")
                // Unpausing publishes nothing: only the poll can find the task.
                _ = try await h.redis.del(RedisKeys.paused("default"))
                #expect(try await runs.wait(timeout: .seconds(5)) == [info.id])
            }
        }
    }

    @Test("a notification lost with the subscription connection does not lose the task")
    func notificationLostWithSubscription() async throws {
        try await withServerHarness { h in
            let runs = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.taskCheckInterval = .milliseconds(200) }) { _, context in
                runs.record(context.taskID)
            }
            try await withRunningServer(server) { () async throws in
                await server.waitUntilSubscribed()
                // Drop the server's subscription: the notification of the next enqueue goes
                // nowhere (resubscribing takes 5 s), yet the task runs within the poll interval.
                try await h.redis.send(RedisCommand("CLIENT", "KILL", "TYPE", "pubsub"))
                let clock = ContinuousClock()
                let start = clock.now
                let info = try await h.client.enqueue(AsynqTask(type: "lost"))
                #expect(try await runs.wait(timeout: .seconds(4)) == [info.id])
                #expect(clock.now - start < .seconds(4))
            }
        }
    }
}
