import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Crash recovery with a real worker process: `asynq-test-worker` (Tests/AsynqTestWorker) takes a
// task and is killed with SIGKILL in the middle of it; a second server recovers the task once
// its lease expired, as Go's recoverer does (retry with "asynq: task lease expired", or archive
// without retries left), and processes it exactly once more.
//
// Both servers use short, package-level lease, heartbeat and recovery settings (Go's are fixed
// at 30 s, 5 s, 1 min and a 30 s grace, i.e. up to two minutes until a recovery).

@Suite("Crash recovery: a worker process killed with SIGKILL")
struct CrashRecoveryProcessTests {
    // Generous against a loaded machine: the live worker's heartbeat (every second) must not
    // miss a whole lease.
    static let leaseSeconds: Int64 = 6
    static let heartbeat: Duration = .seconds(1)
    static let grace: Duration = .seconds(3)

    /// The worker executable built next to the test bundle.
    static func workerExecutable() throws -> String {
        var directories: [URL] = Bundle.allBundles.map(\.bundleURL).filter { $0.pathExtension == "xctest" }.map {
            $0.deletingLastPathComponent()
        }
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for directory in directories {
            let candidate = directory.appendingPathComponent("asynq-test-worker").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ServerTestTimeout(what: "asynq-test-worker next to the tests (build with swift build --build-tests)")
    }

    static func launchWorker(
        port: Int, readyWhen isReady: @escaping @Sendable (String) -> Bool
    ) async throws
        -> SupervisedProcess
    {
        try await SupervisedProcess.launch(
            .init(
                executable: try workerExecutable(),
                arguments: [
                    "--redis-port", String(port), "--lease", String(leaseSeconds), "--heartbeat",
                    String(heartbeat.components.seconds),
                ],
                readinessTimeout: .seconds(60),
                isReadyLine: isReady
            ))
    }

    @Test("killed mid-task: not recovered while its lease is extended; after it expired, retried once and done")
    func killedWorkerIsRecovered() async throws {
        try await withServerHarness { h in
            let info = try await h.client.enqueue(AsynqTask(type: "crash:job", payload: "p"), .maxRetry(3))
            let worker = try await Self.launchWorker(port: h.redisServer.port) { $0.hasPrefix("started \(info.id)") }
            #expect(try await h.state("default", info.id) == "active")

            let runs = ServerTestRecorder<Int>()
            let recovering = try h.makeServer(
                {
                    $0.concurrency = 1
                    $0.leaseDuration = .seconds(Self.leaseSeconds)
                    $0.heartbeatInterval = Self.heartbeat
                    $0.recoveryInterval = .milliseconds(200)
                    $0.leaseExpiryGrace = Self.grace
                    $0.retryDelay = { _, _, _ in .seconds(1) }
                },
                handler: { _, context in runs.record(context.retryCount) }
            )
            try await withRunningServer(recovering) { () async throws in
                // While the worker lives, its heartbeat keeps the lease ahead: longer than a lease
                // plus the grace passes, and the recoverer (every 200 ms) leaves the task alone.
                let clock = ContinuousClock()
                let watchUntil = clock.now + .seconds(Self.leaseSeconds) + Self.grace + .seconds(1)
                while clock.now < watchUntil {
                    #expect(try await h.state("default", info.id) == "active")
                    let lease = try #require(try await h.redis.zscore(RedisKeys.lease("default"), info.id))
                    #expect(lease >= Date().timeIntervalSince1970.rounded(.down) - 1, "the lease is kept ahead")
                    try await Task.sleep(for: .milliseconds(250))
                }
                #expect(runs.values.isEmpty)
                #expect(worker.isRunning)

                // Crash.
                let lease = try #require(try await h.redis.zscore(RedisKeys.lease("default"), info.id))
                #expect(await worker.kill() == .signaled(SIGKILL))
                let killedAt = Date()

                // Go's recoverer: the lease expired more than the grace ago → retry (retries left).
                try await h.eventually("task recovered to retry", timeout: .seconds(30)) {
                    try await h.state("default", info.id) == "retry"
                }
                let recoveredAt = Date()
                #expect(recoveredAt.timeIntervalSince1970 >= lease + Double(Self.grace.components.seconds) - 1)
                #expect(recoveredAt.timeIntervalSince(killedAt) < Double(Self.leaseSeconds) + 10)
                let message = try #require(try await h.message("default", info.id))
                #expect(message.errorMsg == "asynq: task lease expired")
                #expect(message.retried == 1)
                #expect(try await h.redis.llen(RedisKeys.active("default")) == 0)
                #expect(try await h.redis.zcard(RedisKeys.lease("default")) == 0)

                // Forwarded when due, then processed by the second server, once.
                #expect(try await runs.wait(timeout: .seconds(30)) == [1])
                try await h.eventually("task done") { try await !h.exists("default", info.id) }
            }
            #expect(runs.values == [1], "processed exactly once more")
            #expect(worker.recentOutput.filter { $0.hasPrefix("started ") } == ["started \(info.id) retry=0"])
            for key in [RedisKeys.pending("default"), RedisKeys.active("default")] {
                #expect(try await h.redis.llen(key) == 0, "\(key)")
            }
            for key in [RedisKeys.retry("default"), RedisKeys.scheduled("default"), RedisKeys.archived("default")] {
                #expect(try await h.redis.zcard(key) == 0, "\(key)")
            }
            #expect(try await h.counter(RedisKeys.processedTotal("default")) == 2, "the crash counts as a failure")
            #expect(try await h.counter(RedisKeys.failedTotal("default")) == 1)
            // The killed worker's heartbeat keys expire; only the recovering server cleaned up its own.
            #expect(try await h.redis.zcard(RedisKeys.allServers) == 1)
        }
    }

    @Test("killed mid-task without retries left: the task is archived, not run again")
    func killedWorkerWithoutRetriesIsArchived() async throws {
        try await withServerHarness { h in
            let info = try await h.client.enqueue(AsynqTask(type: "crash:job"), .maxRetry(0))
            let worker = try await Self.launchWorker(port: h.redisServer.port) { $0.hasPrefix("started \(info.id)") }
            #expect(await worker.kill() == .signaled(SIGKILL))
            let recovering = try h.makeServer(
                {
                    $0.leaseDuration = .seconds(Self.leaseSeconds)
                    $0.heartbeatInterval = Self.heartbeat
                    $0.recoveryInterval = .milliseconds(200)
                    $0.leaseExpiryGrace = Self.grace
                },
                handler: { _, _ in Issue.record("an archived task must not run") }
            )
            try await withRunningServer(recovering) { () async throws in
                try await h.eventually("task archived", timeout: .seconds(30)) {
                    try await h.state("default", info.id) == "archived"
                }
            }
            let message = try #require(try await h.message("default", info.id))
            #expect(message.errorMsg == "asynq: task lease expired")
            #expect(message.retried == 0)
            #expect(try await h.redis.zscore(RedisKeys.archived("default"), info.id) != nil)
            #expect(try await h.redis.llen(RedisKeys.active("default")) == 0)
            #expect(try await h.counter(RedisKeys.failedTotal("default")) == 1)
        }
    }
}
