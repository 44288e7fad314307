import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import Logging
import NIOCore
import Testing

@Suite("Task options and Go text forms")
struct TaskOptionTests {
    @Test(arguments: [
        (Duration.zero, "0s"),
        (.seconds(1), "1s"),
        (.milliseconds(1500), "1.5s"),
        (.seconds(90), "1m30s"),
        (.seconds(3600), "1h0m0s"),
        (.seconds(86400), "24h0m0s"),
        (.milliseconds(7_380_500), "2h3m0.5s"),
        (.milliseconds(500), "500ms"),
        (.microseconds(2), "2µs"),
        (.nanoseconds(3), "3ns"),
        (.seconds(-90), "-1m30s"),
    ])
    func goDurationStrings(duration: Duration, expected: String) {
        #expect(GoFormat.duration(duration) == expected)
        #expect(GoFormat.parseDuration(expected) == duration)
    }

    @Test func goParsesNonCanonicalDurations() {
        #expect(GoFormat.parseDuration("90s") == .seconds(90))
        #expect(GoFormat.parseDuration("1h30m") == .seconds(5400))
        #expect(GoFormat.parseDuration("1.5h") == .seconds(5400))
        #expect(GoFormat.parseDuration("0") == .zero)
        #expect(GoFormat.parseDuration("") == nil)
        #expect(GoFormat.parseDuration("5 minutes") == nil)
        #expect(GoFormat.parseDuration("10x") == nil)
    }

    @Test func optionStringsMatchGo() {
        let date = Date(timeIntervalSince1970: 1_136_214_245)  // Mon Jan  2 15:04:05 UTC 2006
        #expect(TaskOption.maxRetry(5).description == "MaxRetry(5)")
        #expect(TaskOption.queue("critical").description == "Queue(\"critical\")")
        #expect(TaskOption.queue("a\"b\\c\n").description == "Queue(\"a\\\"b\\\\c\\n\")")
        #expect(TaskOption.taskID("abc").description == "TaskID(\"abc\")")
        #expect(TaskOption.timeout(.seconds(90)).description == "Timeout(1m30s)")
        #expect(TaskOption.deadline(date).description == "Deadline(Mon Jan  2 15:04:05 UTC 2006)")
        #expect(TaskOption.unique(ttl: .seconds(3600)).description == "Unique(1h0m0s)")
        #expect(TaskOption.processAt(date).description == "ProcessAt(Mon Jan  2 15:04:05 UTC 2006)")
        #expect(TaskOption.processIn(.seconds(600)).description == "ProcessIn(10m0s)")
        #expect(TaskOption.retention(.seconds(86400)).description == "Retention(24h0m0s)")
        #expect(TaskOption.group("g1").description == "Group(\"g1\")")
        #expect(TaskOption.header("k", "<v>").description == "Header([\"k\",\"\\u003cv\\u003e\"])")
        #expect(GoFormat.unixDate(Date(timeIntervalSince1970: 1_795_551_950)) == "Tue Nov 24 20:25:50 UTC 2026")
    }

    @Test func composingAppliesLastWinsAndValidates() throws {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let composed = try ComposedOptions(
            [.queue("a"), .maxRetry(-3), .queue("b"), .processIn(.seconds(10)), .header("x", "1"), .header("x", "2")],
            now: now
        )
        #expect(composed.queue == "b")
        #expect(composed.maxRetry == 0)
        #expect(composed.processAt == now.addingTimeInterval(10))
        #expect(composed.headers == ["x": "2"])
        #expect(throws: AsynqError.invalid("queue name must contain one or more characters")) {
            try ComposedOptions([.queue("  ")], now: now)
        }
        #expect(throws: AsynqError.invalid("task ID cannot be empty")) { try ComposedOptions([.taskID("")], now: now) }
        #expect(throws: AsynqError.invalid("Unique TTL cannot be less than 1s")) {
            try ComposedOptions([.unique(ttl: .milliseconds(999))], now: now)
        }
        #expect(throws: AsynqError.invalid("group key cannot be empty")) { try ComposedOptions([.group("")], now: now) }
    }

    @Test func md5AndUniqueKeys() {
        #expect(MD5.hexDigest(of: []) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(
            MD5.hexDigest(of: Array("The quick brown fox jumps over the lazy dog".utf8))
                == "9e107d9d372bb6826bd81d3542a419d6")
        #expect(MD5.hexDigest(of: Array(repeating: 0x61, count: 1000)) == "cabe45dcc9ae5b66ba86600cca6b8ba8")
        // Values recorded from Go asynq (redis-layout.md §9 and §2.1).
        #expect(
            RedisKeys.unique("default", type: "email:welcome", payload: Data("{\"user_id\":42}".utf8))
                == "asynq:{default}:unique:email:welcome:1181f89307fa271072c095747d5813cc"
        )
        #expect(RedisKeys.unique("default", type: "ping", payload: nil) == "asynq:{default}:unique:ping:")
        #expect(
            RedisKeys.unique("default", type: "ping", payload: Data())
                == "asynq:{default}:unique:ping:d41d8cd98f00b204e9800998ecf8427e"
        )
        #expect(RedisKeys.utcDay(Date(timeIntervalSince1970: 0)) == "1970-01-01")
        #expect(RedisKeys.utcDay(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29")
        #expect(RedisKeys.utcDay(Date(timeIntervalSince1970: 1_795_551_950)) == "2026-11-24")
    }

    @Test func errorWrappingIsFound() {
        struct Wrapper: WrappingError {
            var wrappedError: (any Error)?
        }
        #expect(AsynqError.skipRetry("bad input").isAsynqError(.skipRetry))
        #expect(Wrapper(wrappedError: AsynqError.revokeTask()).isAsynqError(.revokeTask))
        #expect(!Wrapper(wrappedError: nil).isAsynqError(.revokeTask))
        #expect(AsynqError.skipRetry().message == "skip retry for the task")
    }
}

@Suite("AsynqClient against a real server")
struct AsynqClientTests {
    @Test func enqueueVariantsAndErrors() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            let client = AsynqClient(redis: redis)
            let task = AsynqTask(type: "email:deliver", payload: "{\"to\":\"a@b.c\"}")

            let info = try await client.enqueue(task, .queue("critical"), .maxRetry(5), .taskID("t1"))
            #expect(info.state == .pending)
            #expect(info.maxRetry == 5)
            #expect(info.timeout == .seconds(1800))
            #expect(try await redis.smembers("asynq:queues") == ["critical"])
            #expect(try await redis.lrange("asynq:{critical}:pending", 0, -1) == ["t1"])
            #expect(try await redis.hget("asynq:{critical}:t:t1", "state") == "pending")

            await #expect(throws: AsynqError.taskIDConflict) {
                try await client.enqueue(task, .queue("critical"), .taskID("t1"))
            }

            let scheduled = try await client.enqueue(task, .processIn(.seconds(3600)), .unique(ttl: .seconds(60)))
            #expect(scheduled.state == .scheduled)
            await #expect(throws: AsynqError.duplicateTask) {
                try await client.enqueue(task, .processIn(.seconds(3600)), .unique(ttl: .seconds(60)))
            }
            let uniqueKey = RedisKeys.unique("default", type: task.type, payload: task.payload)
            #expect((3655...3660).contains(try await redis.ttl(uniqueKey)))

            let grouped = try await client.enqueue(task, .group("batch"))
            #expect(grouped.state == .aggregating)
            #expect(try await redis.smembers("asynq:{default}:groups") == ["batch"])

            await #expect(throws: AsynqError.invalid("task typename cannot be empty")) {
                try await client.enqueue(AsynqTask(type: " "))
            }

            // Empty and large payloads round-trip.
            let big = Data(repeating: 7, count: 10 * 1024 * 1024)
            let bigInfo = try await client.enqueue(AsynqTask(type: "big", payload: big))
            let stored = try #require(try await redis.hgetBuffer("asynq:{default}:t:\(bigInfo.id)", "msg"))
            #expect(try TaskMessage.decode(stored.readableBytesView).payload == big)
            _ = try await client.enqueue(AsynqTask(type: "empty", payload: Data()))
            await redis.close()
        }
    }

    @Test func batchEnqueueReportsPerItem() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            let client = AsynqClient(redis: redis)
            _ = try await client.enqueue(AsynqTask(type: "x"), .taskID("taken"))
            let results = try await client.enqueueBatch([
                AsynqTask(type: "a", options: [.taskID("b1")]),
                AsynqTask(type: "a", options: [.taskID("taken")]),
                AsynqTask(type: "a", options: [.group("g")]),
                AsynqTask(type: "a", options: [.unique(ttl: .seconds(10))]),
                AsynqTask(type: "a", options: [.taskID("b2"), .processIn(.seconds(60))]),
                AsynqTask(type: ""),
            ])
            #expect(results.count == 6)
            #expect(try results[0].get().state == .pending)
            #expect(throws: AsynqError.taskIDConflict) { try results[1].get() }
            #expect(throws: AsynqError.invalid("batch enqueue does not support group tasks")) { try results[2].get() }
            #expect(throws: AsynqError.invalid("batch enqueue does not support unique tasks")) { try results[3].get() }
            #expect(try results[4].get().state == .scheduled)
            #expect(throws: AsynqError.self) { try results[5].get() }
            #expect(try await redis.zcard("asynq:{default}:scheduled") == 1)
            await redis.close()
        }
    }

    @Test("scheduled unique lock TTL is Go's: whole seconds strictly below processAt + TTL - now")
    func scheduledUniqueLockTTL() async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000.25)
        func ttl(_ seconds: Double) -> Int64 {
            AsynqClient.scheduledUniqueTTLSeconds(lockUntil: now.addingTimeInterval(seconds), now: now)
        }
        #expect(ttl(5400) == 5399)
        #expect(ttl(5399.5) == 5399)
        #expect(ttl(5400.25) == 5400)
        #expect(ttl(0.5) == 1)
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            let clock = Date()
            let started = ContinuousClock.now
            let client = AsynqClient(redis: redis, ownsConnection: false, logger: Logger(label: "test"), now: { clock })
            let info = try await client.enqueue(
                AsynqTask(type: "ping"), .processIn(.seconds(1800)), .unique(ttl: .seconds(3600)))
            #expect(info.payload == nil, "no payload stays nil")
            let empty = try await client.enqueue(AsynqTask(type: "ping", payload: Data()), .unique(ttl: .seconds(60)))
            #expect(empty.payload == Data(), "an empty payload stays empty, as Go returns it")
            let lock = RedisKeys.unique("default", type: "ping", payload: nil)
            let remaining = try await redis.pttl(lock)
            let elapsed = Int((ContinuousClock.now - started).components.seconds) + 1
            #expect(remaining <= 5_399_000 && remaining >= 5_398_000 - elapsed * 1000, "TTL \(remaining) ms")
            await redis.close()
        }
    }

    @Test func unreachableRedisIsAClearError() async throws {
        let port = try PortAllocator.reserveOne()
        let client = try AsynqClient(redis: .standalone(host: "127.0.0.1", port: port))
        let error = await #expect(throws: AsynqError.self) { try await client.enqueue(AsynqTask(type: "x")) }
        #expect(error?.code == .redis)
        await client.close()
    }
}
