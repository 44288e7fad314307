import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import NIOCore
import SwiftProtobuf
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The server's other components against a real redis-server: heartbeat, graceful shutdown,
// crash recovery, forwarder, janitor, aggregator, wake-up notifications, stop, signals,
// health checks and the lifecycle errors.

@Suite("Server: components and lifecycle")
struct ServerLifecycleTests {
    @Test("the heartbeat publishes ServerInfo and WorkerInfo like Go, and is cleared at shutdown")
    func heartbeat() async throws {
        try await withServerHarness { h in
            let gate = ServerTestGate()
            let started = ServerTestRecorder<String>()
            let server = try h.makeServer({
                $0.concurrency = 3; $0.queues = ["critical": 6, "low": 1]
            }) { _, context in
                started.record(context.taskID)
                try await gate.wait()
            }
            let identity = server.identity
            try await withRunningServer(server) { () async throws in
                let info = try await h.client.enqueue(
                    AsynqTask(type: "work", payload: "payload"),
                    .queue("critical"),
                    .timeout(.seconds(120))
                )
                #expect(try await started.wait() == [info.id])
                let enqueuedAt = Date()
                // The beat at start has no worker; the next one (≤ 5 s later) lists the task.
                try await h.eventually("worker listed", timeout: .seconds(8)) {
                    try await h.redis.hlen(identity.workersKey) == 1
                }
                let now = Date().timeIntervalSince1970
                let serverScore = try #require(try await h.redis.zscore(RedisKeys.allServers, identity.serverKey))
                let workersScore = try #require(try await h.redis.zscore(RedisKeys.allWorkers, identity.workersKey))
                #expect(serverScore > now && serverScore <= now + 10)
                #expect(workersScore == serverScore)
                #expect(try await h.redis.ttl(identity.serverKey) <= 10)
                #expect(try await h.redis.ttl(identity.workersKey) <= 10)
                #expect(identity.serverKey == "asynq:servers:{\(identity.host):\(getpid()):\(server.serverID)}")

                let serverBytes = try #require(try await h.redis.getBuffer(identity.serverKey))
                let serverInfo = try Asynq_ServerInfo(serializedBytes: Array(serverBytes.readableBytesView))
                #expect(serverInfo.host == identity.host && !serverInfo.host.isEmpty)
                #expect(serverInfo.pid == getpid())
                #expect(serverInfo.serverID == server.serverID)
                #expect(
                    UUID(uuidString: serverInfo.serverID) != nil
                        && serverInfo.serverID == serverInfo.serverID.lowercased())
                #expect(serverInfo.concurrency == 3)
                #expect(serverInfo.queues == ["critical": 6, "low": 1])
                #expect(!serverInfo.strictPriority)
                #expect(serverInfo.status == "active")
                #expect(serverInfo.activeWorkerCount == 1)
                #expect(serverInfo.hasStartTime && serverInfo.startTime.date <= enqueuedAt)

                let workerBytes = try #require(try await h.redis.hgetBuffer(identity.workersKey, info.id))
                let worker = try Asynq_WorkerInfo(serializedBytes: Array(workerBytes.readableBytesView))
                #expect(worker.host == identity.host && worker.pid == getpid() && worker.serverID == server.serverID)
                #expect(worker.taskID == info.id && worker.taskType == "work")
                #expect(worker.taskPayload == Data("payload".utf8))
                #expect(worker.queue == "critical")
                #expect(worker.startTime.date <= enqueuedAt)
                let expectedDeadline = worker.startTime.date.addingTimeInterval(120)
                #expect(abs(worker.deadline.date.timeIntervalSince(expectedDeadline)) < 0.001)

                // The lease was extended by that beat.
                let lease = try #require(try await h.redis.zscore(RedisKeys.lease("critical"), info.id))
                #expect(lease >= (Date().timeIntervalSince1970 + 24).rounded(.down))

                server.stop()
                gate.open()
            }
            #expect(try await h.redis.exists(identity.serverKey) == 0)
            #expect(try await h.redis.exists(identity.workersKey) == 0)
            #expect(try await h.redis.zscore(RedisKeys.allServers, identity.serverKey) == nil)
            #expect(try await h.redis.zscore(RedisKeys.allWorkers, identity.workersKey) == nil)
        }
    }

    @Test("at the shutdown timeout a running task goes back to the front of pending")
    func shutdownRequeues() async throws {
        try await withServerHarness { h in
            let started = ServerTestRecorder<String>()
            let cancelled = ServerTestRecorder<String>()
            let server = try h.makeServer({
                $0.concurrency = 1; $0.shutdownTimeout = .milliseconds(300)
            }) { _, context in
                started.record(context.taskID)
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    cancelled.record(context.taskID)
                    throw error
                }
            }
            let first = try await h.client.enqueue(AsynqTask(type: "long"))
            let second = try await h.client.enqueue(AsynqTask(type: "long"))
            try await withRunningServer(server) { () async throws in
                #expect(try await started.wait() == [first.id])
            }
            #expect(cancelled.values == [first.id], "the handler was cancelled")
            #expect(try await h.redis.lrange(RedisKeys.pending("default"), 0, -1) == [second.id, first.id])
            #expect(try await h.state("default", first.id) == "pending")
            #expect(try await h.redis.hexists(RedisKeys.taskKey("default", first.id), "pending_since") == false)
            #expect(try await h.redis.llen(RedisKeys.active("default")) == 0)
            #expect(try await h.redis.zcard(RedisKeys.lease("default")) == 0)
            #expect(try await h.message("default", first.id)?.retried == 0)
            #expect(try await h.counter(RedisKeys.processedTotal("default")) == 0)
            #expect(try await h.redis.zcard(RedisKeys.allServers) == 0)
        }
    }

    @Test("a graceful shutdown lets tasks that finish in time record their outcome")
    func shutdownWaitsForRunningTasks() async throws {
        try await withServerHarness { h in
            let gate = ServerTestGate()
            let started = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.shutdownTimeout = .seconds(30) }) { _, context in
                started.record(context.taskID)
                try await gate.wait()
            }
            let info = try await h.client.enqueue(AsynqTask(type: "finish"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                #expect(try await started.wait() == [info.id])
                group.addTask { await server.shutdown() }
                try await h.eventually("server stopped fetching") { server.state == "closed" }
                gate.open()
                try await group.waitForAll()
            }
            #expect(try await !h.exists("default", info.id))
            #expect(try await h.counter(RedisKeys.processedTotal("default")) == 1)
        }
    }

    @Test("a crashed worker's task is recovered once its lease expired, and runs exactly once more")
    func crashRecovery() async throws {
        try await withServerHarness { h in
            let info = try await h.client.enqueue(AsynqTask(type: "orphan"), .maxRetry(5))
            // A "worker" takes the task and dies: active with a lease that expired a minute ago.
            let dequeued = try await h.broker.dequeueTasks(queue: "default", count: 1, now: Date())
            #expect(dequeued.count == 1)
            #expect(try await h.state("default", info.id) == "active")
            _ = try await h.redis.zadd(
                RedisKeys.lease("default"),
                [(score: (Date().timeIntervalSince1970 - 60).rounded(.down), member: info.id)]
            )
            let runs = ServerTestRecorder<Int>()
            let server = try h.makeServer({ $0.retryDelay = { _, _, _ in .zero } }) { _, context in
                runs.record(context.retryCount)
            }
            try await withRunningServer(server) { () async throws in
                #expect(try await runs.wait() == [1], "retried once by the recoverer")
                try await h.eventually("task done") { try await !h.exists("default", info.id) }
            }
            #expect(runs.values == [1])
            #expect(try await h.counter(RedisKeys.processedTotal("default")) == 2, "the recovery counts as a failure")
            #expect(try await h.counter(RedisKeys.failedTotal("default")) == 1)
        }
    }

    @Test("the recoverer archives an orphaned task without retries left")
    func crashRecoveryArchives() async throws {
        try await withServerHarness { h in
            let info = try await h.client.enqueue(AsynqTask(type: "orphan"), .maxRetry(0))
            _ = try await h.broker.dequeueTasks(queue: "default", count: 1, now: Date().addingTimeInterval(-120))
            let server = try h.makeServer { _, _ in Issue.record("must not run") }
            try await withRunningServer(server) { () async throws in
                try await h.eventually("task archived") { try await h.state("default", info.id) == "archived" }
            }
            #expect(try await h.message("default", info.id)?.errorMsg == "asynq: task lease expired")
        }
    }

    @Test("a lease found expired by the heartbeat cancels the handler and writes nothing")
    func leaseLost() async throws {
        try await withServerHarness { h in
            let skew = Mutex<TimeInterval>(0)
            let started = ServerTestRecorder<String>()
            let cancelled = ServerTestRecorder<String>()
            let failures = ServerTestRecorder<String>()
            let server = try h.makeServer(
                {
                    $0.now = { Date().addingTimeInterval(skew.withLock { $0 }) }
                    $0.errorHandler = { _, _, error in failures.record("\(error)") }
                },
                handler: { _, context in
                    started.record(context.taskID)
                    do {
                        try await Task.sleep(for: .seconds(60))
                    } catch {
                        cancelled.record(context.taskID)
                        throw error
                    }
                }
            )
            let info = try await h.client.enqueue(AsynqTask(type: "long"))
            try await withRunningServer(server) { () async throws in
                #expect(try await started.wait() == [info.id])
                // The clock jumps past the 30 s lease; the next beat (≤ 5 s) notices.
                skew.withLock { $0 = 45 }
                #expect(try await cancelled.wait(timeout: .seconds(10)) == [info.id])
                #expect(try await failures.wait() == ["asynq: task lease expired"])
                #expect(try await h.state("default", info.id) == "active", "nothing written: the recoverer owns it")
                #expect(try await h.redis.zscore(RedisKeys.lease("default"), info.id) != nil)
            }
            #expect(try await h.state("default", info.id) == "active", "not requeued at shutdown either")
        }
    }

    @Test("the forwarder moves due scheduled tasks to pending")
    func forwarder() async throws {
        try await withServerHarness { h in
            let runs = ServerTestRecorder<String>()
            let server = try h.makeServer { task, _ in runs.record(task.type) }
            let due = try await h.client.enqueue(AsynqTask(type: "due"), .processIn(.seconds(3600)))
            let later = try await h.client.enqueue(AsynqTask(type: "later"), .processIn(.seconds(3600)))
            _ = try await h.redis.zadd(
                RedisKeys.scheduled("default"),
                [(score: (Date().timeIntervalSince1970 - 1).rounded(.down), member: due.id)]
            )
            try await withRunningServer(server) { () async throws in
                #expect(try await runs.wait() == ["due"])
                #expect(try await h.state("default", later.id) == "scheduled")
            }
        }
    }

    @Test("the janitor deletes completed tasks whose retention ended")
    func janitor() async throws {
        try await withServerHarness { h in
            let old = try await h.client.enqueue(AsynqTask(type: "old"), .retention(.seconds(3600)))
            let fresh = try await h.client.enqueue(AsynqTask(type: "fresh"), .retention(.seconds(3600)))
            for entry in try await h.broker.dequeueTasks(queue: "default", count: 2, now: Date()) {
                guard case .task(let message) = entry else { continue }
                // "old" completed two hours ago, so its retention ended an hour ago.
                let completedAt = message.id == old.id ? Date().addingTimeInterval(-7200) : Date()
                try await h.broker.run(h.broker.markCompleteCall(message, now: completedAt))
            }
            #expect(try await h.redis.zcard(RedisKeys.completed("default")) == 2)
            let server = try h.makeServer({ $0.janitorInterval = .milliseconds(100) }) { _, _ in }
            try await withRunningServer(server) { () async throws in
                try await h.eventually("expired task deleted") { try await !h.exists("default", old.id) }
            }
            #expect(try await h.redis.zrange(RedisKeys.completed("default"), 0, -1) == [fresh.id])
            #expect(try await h.state("default", fresh.id) == "completed")
        }
    }

    @Test("the aggregator turns a full group into one task")
    func aggregator() async throws {
        try await withServerHarness { h in
            let batches = ServerTestRecorder<String>()
            let router = TaskRouter()
            router.handle("batch") { task, context in
                batches.record("\(context.queue): \(String(decoding: task.payload ?? Data(), as: UTF8.self))")
            }
            router.handle("item") { _, _ in Issue.record("grouped items are not processed one by one") }
            let server = try h.makeServer(
                {
                    $0.queues = ["bulk": 1]
                    $0.groupMaxSize = 3
                    $0.groupGracePeriod = .seconds(1)
                    $0.groupAggregator = GroupAggregatorFunc { group, tasks in
                        let items = tasks.map { String(decoding: $0.payload ?? Data(), as: UTF8.self) }
                        return AsynqTask(
                            type: "batch",
                            payload: "\(group)=\(items.joined(separator: ","))",
                            options: [.queue("elsewhere")]
                        )
                    }
                },
                handler: router
            )
            for (id, item) in [("1", "a"), ("2", "b"), ("3", "c")] {
                try await h.client.enqueue(
                    AsynqTask(type: "item", payload: item),
                    .queue("bulk"),
                    .group("g"),
                    .taskID(id)
                )
            }
            try await withRunningServer(server) { () async throws in
                #expect(try await batches.wait() == ["bulk: g=a,b,c"])
                try await h.eventually("group emptied") {
                    try await h.redis.exists(RedisKeys.group("bulk", "g")) == 0
                }
                for id in ["1", "2", "3"] { #expect(try await !h.exists("bulk", id)) }
                #expect(try await h.redis.zcard(RedisKeys.aggregationSets("bulk")) == 0)
            }
        }
    }

    @Test("an idle server picks up a Swift-enqueued task at once, long before its poll interval")
    func wakeUpOnNotification() async throws {
        try await withServerHarness { h in
            let runs = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.taskCheckInterval = .seconds(30) }) { task, _ in runs.record(task.type) }
            try await h.client.enqueue(AsynqTask(type: "first"))
            try await withRunningServer(server) { () async throws in
                // The first task is found by the initial dequeue; the fetch loop then polls again,
                // finds nothing and waits 15–45 s, unless woken.
                #expect(try await runs.wait() == ["first"])
                await server.waitUntilSubscribed()
                let clock = ContinuousClock()
                let start = clock.now
                try await h.client.enqueue(AsynqTask(type: "second"))
                #expect(try await runs.wait(count: 2, timeout: .seconds(10)) == ["first", "second"])
                #expect(clock.now - start < .seconds(5))
            }
        }
    }

    @Test("a Go-style enqueue (no notification) is found by the poll")
    func goStyleEnqueueIsPolled() async throws {
        try await withServerHarness { h in
            let runs = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.taskCheckInterval = .milliseconds(200) }) { task, _ in
                runs.record(task.type)
            }
            try await withRunningServer(server) { () async throws in
                await server.waitUntilSubscribed()
                var message = TaskMessage()
                message.id = UUID().uuidString.lowercased()
                message.type = "from-go"
                message.queue = "default"
                message.retry = 25
                message.timeout = 1800
                _ = try await h.redis.sadd(RedisKeys.allQueues, ["default"])
                try await h.redis.run(
                    BrokerScripts.enqueue,
                    keys: [RedisKeys.taskKey("default", message.id), RedisKeys.pending("default")],
                    arguments: [
                        RESPBytes(try message.encoded()), message.id,
                        Int((Date().timeIntervalSince1970 * 1e9).rounded(.down)),
                    ]
                )
                #expect(try await runs.wait(timeout: .seconds(5)) == ["from-go"])
            }
        }
    }

    @Test("stop() ends fetching while running tasks finish; status becomes stopped")
    func stop() async throws {
        try await withServerHarness { h in
            let gate = ServerTestGate()
            let started = ServerTestRecorder<String>()
            let server = try h.makeServer({ $0.concurrency = 1 }) { _, context in
                started.record(context.taskID)
                try await gate.wait()
            }
            let first = try await h.client.enqueue(AsynqTask(type: "first"))
            try await withRunningServer(server) { () async throws in
                #expect(try await started.wait() == [first.id])
                server.stop()
                #expect(server.state == "stopped")
                let second = try await h.client.enqueue(AsynqTask(type: "second"))
                gate.open()
                try await h.eventually("first task done") { try await !h.exists("default", first.id) }
                #expect(try await h.state("default", second.id) == "pending")
                #expect(started.values == [first.id])
                try await server.ping()
            }
        }
    }

    @Test("runUntilSignalled: SIGTSTP stops fetching")
    func terminalStopSignal() async throws {
        try await withServerHarness { h in
            let server = try h.makeServer { _, _ in }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.runUntilSignalled() }
                await server.waitUntilStarted()
                await AsynqServer.waitUntilStopSignalTrapped()
                kill(getpid(), SIGTSTP)
                try await h.eventually("server stopped") { server.state == "stopped" }
                await server.shutdown()
                try await group.waitForAll()
            }
            #expect(server.state == "closed")
        }
    }

    @Test("health checks report PING results")
    func healthCheck() async throws {
        try await withServerHarness { h in
            let results = ServerTestRecorder<Bool>()
            let server = try h.makeServer(
                {
                    $0.healthCheckInterval = .milliseconds(50)
                    $0.healthCheck = { error in results.record(error == nil) }
                },
                handler: { _, _ in }
            )
            try await withRunningServer(server) { () async throws in
                #expect(try await results.wait() == [true])
                await h.redisServer.kill()
                try await h.eventually("a failed check") { results.values.contains(false) }
            }
        }
    }

    @Test("lifecycle: run twice, run after shutdown, ping after shutdown")
    func lifecycleErrors() async throws {
        try await withServerHarness { h in
            let server = try h.makeServer { _, _ in }
            #expect(server.state == "new")
            await server.shutdown()  // nothing to shut down
            #expect(server.state == "new")
            try await withRunningServer(server) { () async throws in
                #expect(server.state == "active")
                let again = await #expect(throws: AsynqError.self) { try await server.run() }
                #expect(again?.code == .serverRunning)
                #expect(again?.message == "asynq: the server is already running")
                try await server.ping()
            }
            #expect(server.state == "closed")
            await #expect(throws: AsynqError.serverClosed) { try await server.run() }
            await h.redisServer.kill()
            try await server.ping()  // closed: Redis is not contacted
        }
    }
}
