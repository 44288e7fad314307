import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import NIOCore
import Testing

// End to end against a real redis-server: what the processor writes for every outcome of
// the decision table, and the inputs it must survive.

@Suite("Server: processing outcomes")
struct ServerProcessingTests {
    @Test("success deletes the task and counts it as processed")
    func success() async throws {
        try await withServerHarness { h in
            let seen = ServerTestRecorder<String>()
            let server = try h.makeServer { task, context in
                #expect(TaskContext.current?.taskID == context.taskID)
                seen.record("\(context.taskID) \(context.queue) \(context.retryCount)/\(context.maxRetry) \(task.type)")
            }
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(AsynqTask(type: "greet", payload: "hi"), .maxRetry(7))
                #expect(try await seen.wait() == ["\(info.id) default 0/7 greet"])
                try await h.eventually("task deleted") { try await !h.exists("default", info.id) }
                #expect(try await h.counter(RedisKeys.processedTotal("default")) == 1)
                #expect(try await h.counter(RedisKeys.processed("default", on: Date())) == 1)
                #expect(try await h.counter(RedisKeys.failedTotal("default")) == 0)
                #expect(try await h.redis.llen(RedisKeys.active("default")) == 0)
                #expect(try await h.redis.zcard(RedisKeys.lease("default")) == 0)
            }
        }
    }

    @Test("retention keeps the task completed with completed_at and its result")
    func retention() async throws {
        try await withServerHarness { h in
            let server = try h.makeServer { task, context in
                let written = try await context.resultWriter.write(Data("result!".utf8))
                #expect(written == 7)
                #expect(task.resultWriter?.taskID == context.taskID)
            }
            try await withRunningServer(server) { () async throws in
                let before = Date()
                let info = try await h.client.enqueue(AsynqTask(type: "keep"), .retention(.seconds(3600)))
                try await h.eventually("task completed") { try await h.state("default", info.id) == "completed" }
                let message = try #require(try await h.message("default", info.id))
                #expect(message.completedAt >= Int64(before.timeIntervalSince1970) - 1)
                #expect(message.completedAt <= Int64(Date().timeIntervalSince1970))
                #expect(try await h.redis.hget(RedisKeys.taskKey("default", info.id), "result") == "result!")
                let score = try #require(try await h.redis.zscore(RedisKeys.completed("default"), info.id))
                #expect(Int64(score) == message.completedAt + 3600)
                #expect(try await h.counter(RedisKeys.processedTotal("default")) == 1)
            }
        }
    }

    @Test("a failure is retried: retried+1, error_msg, last_failed_at, score = now + delay")
    func failureRetries() async throws {
        try await withServerHarness { h in
            let delays = ServerTestRecorder<Int>()
            let errors = ServerTestRecorder<String>()
            let server = try h.makeServer(
                {
                    $0.retryDelay = { n, _, _ in
                        delays.record(n)
                        return .seconds(100)
                    }
                    $0.errorHandler = { task, context, error in errors.record("\(task.type) \(context.taskID) \(error)")
                    }
                },
                handler: { _, _ in throw ServerTestError("boom") }
            )
            try await withRunningServer(server) { () async throws in
                let before = Date()
                let info = try await h.client.enqueue(AsynqTask(type: "fail"), .maxRetry(3))
                try await h.eventually("task in retry") { try await h.state("default", info.id) == "retry" }
                let after = Date()
                let message = try #require(try await h.message("default", info.id))
                #expect(message.retried == 1)
                #expect(message.errorMsg == "boom")
                #expect(message.lastFailedAt >= Int64(before.timeIntervalSince1970))
                let score = try #require(try await h.redis.zscore(RedisKeys.retry("default"), info.id))
                #expect(score >= (before.timeIntervalSince1970 + 100).rounded(.down))
                #expect(score <= (after.timeIntervalSince1970 + 100).rounded(.down))
                #expect(delays.values == [0], "the delay function gets the retry count before this failure")
                #expect(errors.values == ["fail \(info.id) boom"])
                #expect(try await h.counter(RedisKeys.processedTotal("default")) == 1)
                #expect(try await h.counter(RedisKeys.failedTotal("default")) == 1)
                #expect(try await h.counter(RedisKeys.failed("default", on: Date())) == 1)
            }
        }
    }

    @Test("exhausted retries archive the task")
    func exhausted() async throws {
        try await withServerHarness { h in
            let server = try h.makeServer { _, _ in throw ServerTestError("still broken") }
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(AsynqTask(type: "fail"), .maxRetry(0))
                try await h.eventually("task archived") { try await h.state("default", info.id) == "archived" }
                let message = try #require(try await h.message("default", info.id))
                #expect(message.errorMsg == "still broken")
                #expect(message.retried == 0)
                #expect(try await h.redis.zscore(RedisKeys.archived("default"), info.id) != nil)
                #expect(try await h.counter(RedisKeys.failedTotal("default")) == 1)
            }
        }
    }

    @Test("skipRetry archives at once, also when wrapped")
    func skipRetry() async throws {
        try await withServerHarness { h in
            let server = try h.makeServer { task, _ in
                if task.type == "wrapped" {
                    throw AsynqError(.internal, "outer", underlying: AsynqError.skipRetry("nope"))
                }
                throw AsynqError.skipRetry("nope")
            }
            try await withRunningServer(server) { () async throws in
                let direct = try await h.client.enqueue(AsynqTask(type: "direct"), .maxRetry(10))
                let wrapped = try await h.client.enqueue(AsynqTask(type: "wrapped"), .maxRetry(10))
                for id in [direct.id, wrapped.id] {
                    try await h.eventually("task archived") { try await h.state("default", id) == "archived" }
                }
                #expect(try await h.message("default", direct.id)?.errorMsg == "nope: skip retry for the task")
                #expect(try await h.message("default", wrapped.id)?.errorMsg == "outer: nope: skip retry for the task")
            }
        }
    }

    @Test("revokeTask deletes the task and its unique lock; processed +1, failed unchanged")
    func revoke() async throws {
        try await withServerHarness { h in
            let server = try h.makeServer { _, _ in throw AsynqError.revokeTask() }
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(
                    AsynqTask(type: "revoke", payload: "p"), .unique(ttl: .seconds(600)))
                let lock = RedisKeys.unique("default", type: "revoke", payload: Data("p".utf8))
                #expect(try await h.redis.exists(lock) == 1)
                try await h.eventually("task deleted") { try await !h.exists("default", info.id) }
                #expect(try await h.redis.exists(lock) == 0)
                #expect(try await h.counter(RedisKeys.processedTotal("default")) == 1)
                #expect(try await h.counter(RedisKeys.failedTotal("default")) == 0)
            }
        }
    }

    @Test("isFailure false: retried unchanged, counters untouched")
    func notAFailure() async throws {
        try await withServerHarness { h in
            let server = try h.makeServer(
                {
                    $0.isFailure = { !($0 is ServerTestError) }
                    $0.retryDelay = { _, _, _ in .seconds(600) }
                },
                handler: { _, _ in throw ServerTestError("busy") }
            )
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(AsynqTask(type: "busy"), .maxRetry(5))
                try await h.eventually("task in retry") { try await h.state("default", info.id) == "retry" }
                let message = try #require(try await h.message("default", info.id))
                #expect(message.retried == 0)
                #expect(message.errorMsg == "busy")
                #expect(try await h.counter(RedisKeys.processedTotal("default")) == 0)
                #expect(try await h.counter(RedisKeys.failedTotal("default")) == 0)
            }
        }
    }

    @Test("the timeout cancels the handler; the task retries with context deadline exceeded")
    func timeout() async throws {
        try await withServerHarness { h in
            let outcome = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.retryDelay = { _, _, _ in .seconds(600) } }) { _, context in
                #expect(context.deadline.timeIntervalSinceNow <= 2)
                do {
                    try await Task.sleep(for: .seconds(60))
                    outcome.record("not cancelled")
                } catch is CancellationError {
                    outcome.record("cancelled")
                    throw CancellationError()
                }
            }
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(AsynqTask(type: "slow"), .timeout(.seconds(2)))
                try await h.eventually("task in retry") { try await h.state("default", info.id) == "retry" }
                #expect(try await h.message("default", info.id)?.errorMsg == "context deadline exceeded")
                // On a heavily loaded machine the deadline may pass before the handler starts; then
                // the handler is not called at all (server.md §4.3 step 2). Otherwise it was cancelled.
                #expect(outcome.values.allSatisfy { $0 == "cancelled" })
            }
        }
    }

    @Test("a deadline in the past fails without calling the handler")
    func pastDeadline() async throws {
        try await withServerHarness { h in
            let calls = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.retryDelay = { _, _, _ in .seconds(600) } }) { task, _ in
                calls.record(task.type)
            }
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(AsynqTask(type: "late"), .deadline(Date().addingTimeInterval(-5)))
                try await h.eventually("task in retry") { try await h.state("default", info.id) == "retry" }
                #expect(try await h.message("default", info.id)?.errorMsg == "context deadline exceeded")
                #expect(calls.values.isEmpty)
            }
        }
    }

    @Test("PUBLISH asynq:cancel cancels the handler; the task is retried with context canceled")
    func cancellation() async throws {
        try await withServerHarness { h in
            let started = ServerTestRecorder<String>()
            let outcome = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.retryDelay = { _, _, _ in .seconds(600) } }) { _, context in
                started.record(context.taskID)
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    outcome.record("cancelled")
                    throw error
                }
            }
            try await withRunningServer(server) { () async throws in
                await server.waitUntilSubscribed()
                let info = try await h.client.enqueue(AsynqTask(type: "long"))
                #expect(try await started.wait() == [info.id])
                _ = try await h.redis.publish(RedisKeys.cancelChannel, info.id)
                #expect(try await outcome.wait() == ["cancelled"])
                try await h.eventually("task in retry") { try await h.state("default", info.id) == "retry" }
                let message = try #require(try await h.message("default", info.id))
                #expect(message.errorMsg == "context canceled")
                #expect(message.retried == 1)
            }
        }
    }

    @Test("an unknown task type is retried with the not-found error")
    func unknownType() async throws {
        try await withServerHarness { h in
            let router = TaskRouter()
            router.handle("known") { _, _ in }
            let server = try h.makeServer({ $0.retryDelay = { _, _, _ in .seconds(600) } }, handler: router)
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(AsynqTask(type: "unknown:type"))
                try await h.eventually("task in retry") { try await h.state("default", info.id) == "retry" }
                #expect(
                    try await h.message("default", info.id)?.errorMsg == #"handler not found for task "unknown:type""#)
            }
        }
    }

    @Test("a malformed msg is archived untouched and the server keeps processing")
    func malformedMessage() async throws {
        try await withServerHarness { h in
            let processed = ServerTestRecorder<String>()
            let server = try h.makeServer { task, _ in processed.record(task.type) }
            // Not a TaskMessage: field 1 announces 5 bytes but only 1 follows.
            let garbage: [UInt8] = [0x0A, 0x05, 0x61]
            let key = RedisKeys.taskKey("default", "bad")
            _ = try await h.redis.hset(key, [("msg", RESPBytes(garbage)), ("state", "pending")])
            _ = try await h.redis.lpush(RedisKeys.pending("default"), ["bad"])
            _ = try await h.redis.sadd(RedisKeys.allQueues, ["default"])
            let good = try await h.client.enqueue(AsynqTask(type: "good"))
            try await withRunningServer(server) { () async throws in
                #expect(try await processed.wait() == ["good"])
                try await h.eventually("malformed task archived") { try await h.state("default", "bad") == "archived" }
                #expect(try await h.redis.zscore(RedisKeys.archived("default"), "bad") != nil)
                let stored = try await h.redis.hgetBuffer(key, "msg")
                #expect(stored.map { Array($0.readableBytesView) } == garbage)
                #expect(try await h.redis.llen(RedisKeys.active("default")) == 0)
                #expect(try await h.redis.zcard(RedisKeys.lease("default")) == 0)
                try await h.eventually("good task done") { try await !h.exists("default", good.id) }
                let more = try await h.client.enqueue(AsynqTask(type: "after"))
                #expect(try await processed.wait(count: 2) == ["good", "after"])
                try await h.eventually("later task done") { try await !h.exists("default", more.id) }
            }
        }
    }

    @Test("empty and 10 MiB payloads arrive intact")
    func payloadSizes() async throws {
        try await withServerHarness { h in
            let sizes = ServerTestRecorder<Int>()
            let big = Data((0..<(10 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let server = try h.makeServer({ $0.concurrency = 1 }) { task, _ in
                let payload = task.payload ?? Data()
                #expect(payload.isEmpty || payload == big)
                sizes.record(payload.count)
            }
            let empty = try await h.client.enqueue(AsynqTask(type: "empty"))
            let large = try await h.client.enqueue(AsynqTask(type: "large", payload: big))
            try await withRunningServer(server) { () async throws in
                #expect(try await sizes.wait(count: 2) == [0, big.count])
                for id in [empty.id, large.id] {
                    try await h.eventually("task done") { try await !h.exists("default", id) }
                }
            }
        }
    }

    @Test("typed payloads: client.enqueue(payload) reaches router.handle(Type.self); undecodable ones are archived")
    func typedPayloadEndToEnd() async throws {
        try await withServerHarness { h in
            let router = TaskRouter()
            let received = ServerTestRecorder<ServerTestEmail>()
            router.handle(ServerTestEmail.self) { email, _ in received.record(email) }
            let server = try h.makeServer(handler: router)
            let email = ServerTestEmail(userID: 7, template: "hello", sentAt: Date(timeIntervalSince1970: 1_000))
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(email, .queue("default"))
                #expect(info.type == "email:deliver")
                #expect(try await received.wait() == [email])
                let bad = try await h.client.enqueue(AsynqTask(type: "email:deliver", payload: "{"), .maxRetry(25))
                try await h.eventually("bad payload archived") { try await h.state("default", bad.id) == "archived" }
                let message = try #require(try await h.message("default", bad.id))
                #expect(message.errorMsg.hasSuffix("skip retry for the task"))
                #expect(message.retried == 0)
            }
        }
    }

    @Test("weighted queues and batched dequeue fill every free slot")
    func batchedDequeue() async throws {
        try await withServerHarness { h in
            let gate = ServerTestGate()
            let started = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.queues = ["a": 2, "b": 1] }) { task, context in
                started.record(context.queue)
                try await gate.wait()
            }
            for i in 0..<4 { try await h.client.enqueue(AsynqTask(type: "t\(i)"), .queue("a")) }
            for i in 0..<2 { try await h.client.enqueue(AsynqTask(type: "t\(i)"), .queue("b")) }
            try await withRunningServer(server) { () async throws in
                try await started.wait(count: 4)
                let activeA = try await h.redis.llen(RedisKeys.active("a"))
                let activeB = try await h.redis.llen(RedisKeys.active("b"))
                let pendingA = try await h.redis.llen(RedisKeys.pending("a"))
                let pendingB = try await h.redis.llen(RedisKeys.pending("b"))
                #expect(activeA + activeB == 4)
                #expect(pendingA + pendingB == 2)
                gate.open()
                try await started.wait(count: 6)
                try await h.eventually("all done") {
                    let a = try await h.counter(RedisKeys.processedTotal("a"))
                    let b = try await h.counter(RedisKeys.processedTotal("b"))
                    return a == 4 && b == 2
                }
            }
        }
    }
}
