import AsynqRedis
import AsynqTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Redis Sentinel", .timeLimit(.minutes(3)))
struct SentinelTests {
    @Test func commandsThroughTheSentinelTopology() async throws {
        try await withRedisSentinelGroup { group in
            let redis = try RedisClient(options: group.connectionOptions())
            defer { Task { await redis.close() } }
            #expect(try await redis.ping() == "PONG")
            #expect(try await redis.set("greeting", "hello"))
            #expect(try await redis.get("greeting") == "hello")
            #expect(try await redis.role().role == "master")
            let master = group.servers[0]
            #expect(try await redis.masterAddress() == .tcp(host: master.host, port: master.port))

            let results = try await redis.pipeline([RedisCommand("INCR", "n"), RedisCommand("INCR", "n")])
            #expect(try results.map { try $0.get().int } == [1, 2])
            let replies = try await redis.transaction([RedisCommand("INCR", "n"), RedisCommand("GET", "n")])
            #expect(try replies[1].get().string == "3")
            #expect(try await redis.run(RedisScript("return redis.call('GET', KEYS[1])"), keys: ["n"]).string == "3")

            let received = try await redis.withSubscription(channels: ["news"]) { subscription -> String? in
                var iterator = subscription.makeAsyncIterator()
                #expect(try await iterator.next() == .ready)
                #expect(try await redis.publish("news", "hi") == 1)
                if case .message(let message) = try await iterator.next() { return message.payloadString }
                return nil
            }
            #expect(received == "hi")
        }
    }

    /// SIGKILLs the master while a task writes continuously; the same client resumes writing on
    /// the promoted replica by itself. Reports the time from the kill to the first acknowledged
    /// write after it, and how many acknowledged writes the failover lost (asynchronous
    /// replication allows some).
    @Test func writerSurvivesMasterCrash() async throws {
        try await withRedisSentinelGroup { group in
            let redis = try RedisClient(options: group.connectionOptions())
            defer { Task { await redis.close() } }
            let clock = ContinuousClock()
            let log = WriterLog()
            let (warmedUp, warmedUpContinuation) = AsyncStream<Void>.makeStream()
            let (oldMaster, newMaster, killRequestedAt) = try await withThrowingTaskGroup(
                of: Void.self
            ) { tasks -> (RedisServerAddress, RedisServerAddress, ContinuousClock.Instant) in
                tasks.addTask {
                    // Writes until 200 writes issued after the kill were acknowledged (or a minute passed).
                    defer { warmedUpContinuation.finish() }
                    var index = 0
                    let giveUp = clock.now + .seconds(90)
                    while !Task.isCancelled && clock.now < giveUp {
                        index += 1
                        let issued = clock.now
                        do {
                            try await redis.set("write:\(index)", index)
                            let (total, afterKill) = log.acknowledge(index, issuedAt: issued, at: clock.now)
                            if total == 500 { warmedUpContinuation.yield() }
                            if afterKill >= 200 { return }
                        } catch {
                            log.failed()
                        }
                    }
                }
                for await _ in warmedUp { break }
                let killRequestedAt = clock.now
                let old = try await group.killMaster()
                // The old master has exited: whatever is acknowledged from now on was written elsewhere.
                log.markKill(at: clock.now)
                let new = try await group.waitForFailover()
                try await tasks.waitForAll()
                return (old, new, killRequestedAt)
            }
            #expect(oldMaster != newMaster)
            #expect(try await redis.masterAddress() == newMaster)
            #expect(try await redis.role().role == "master")
            guard let firstAck = log.firstAcknowledgementAfterKill else {
                Issue.record("no write was acknowledged after the kill")
                return
            }
            let recovery = firstAck - killRequestedAt

            // Read back every acknowledged write from the new master.
            let (beforeKill, afterKill) = log.acknowledged
            var lost: [Int] = []
            let all = beforeKill + afterKill
            for chunk in stride(from: 0, to: all.count, by: 500) {
                let indices = Array(all[chunk..<min(chunk + 500, all.count)])
                let values = try await redis.mget(indices.map { "write:\($0)" })
                for (index, value) in zip(indices, values) where value != String(index) { lost.append(index) }
            }
            print(
                """
                [sentinel failover] kill -> first acknowledged write on the new master: \(recovery); \
                acknowledged writes: \(all.count) (\(beforeKill.count) before the kill), \
                acknowledged but lost: \(lost.count), failed attempts during the failover: \(log.failures)
                """
            )
            #expect(afterKill.count >= 200)
            #expect(recovery < .seconds(30))
            // Only writes acknowledged by the old master can be lost (asynchronous replication).
            #expect(Set(lost).isDisjoint(with: afterKill))
        }
    }

    @Test func manualFailoverWithTheOldMasterStillUp() async throws {
        try await withRedisSentinelGroup { group in
            let redis = try RedisClient(options: group.connectionOptions())
            defer { Task { await redis.close() } }
            try await redis.set("k", "v1")
            let old = try await redis.masterAddress()
            // SENTINEL FAILOVER demotes the old master to a replica: it stays up and answers
            // READONLY to writes. The client must notice and move.
            let sentinel = group.sentinels[0]
            let client = try RedisClient(options: group.sentinelConnectionOptions(sentinel))
            try await client.send(RedisCommand("SENTINEL", "FAILOVER", group.options.masterName))
            await client.close()
            let new = try await group.waitForFailover(from: old)
            #expect(new != old)
            // The client learns of the switch from its own +switch-master subscription (no event
            // the test can await: poll the client's state, bounded).
            try await eventually("the client to follow the new master") { try await redis.masterAddress() == new }
            try await redis.set("k", "v2")
            #expect(try await redis.get("k") == "v2")
            #expect(try await redis.masterAddress() == new)
            #expect(try await redis.role().role == "master")
        }
    }

    /// A master demoted while the client's +switch-master subscription hears nothing (its
    /// sentinel is frozen): the sentinel that demotes it closes its client connections, so the
    /// client's next write opens a connection to the cached master, sees with `ROLE` that it is a
    /// replica now, asks the other sentinels and succeeds on the new master, within one `send`.
    /// (A connection that survives a demotion would get READONLY instead, which is retried the
    /// same way; Sentinel itself never leaves one open.)
    @Test func demotedMasterIsDetectedWithoutTheSwitchEvent() async throws {
        try await withRedisSentinelGroup { group in
            var options = group.connectionOptions()
            options.connectTimeout = .seconds(1)  // the frozen sentinel makes handshakes time out
            let redis = try RedisClient(options: options)
            defer { Task { await redis.close() } }
            try await redis.set("k", "v1")
            let old = try await redis.masterAddress()
            let oldServer = try #require(group.server(at: old))
            let watched = group.sentinels[0]  // asked first, so the client's watcher subscribes there
            try await eventually("the client's watcher subscribed on sentinel 0") {
                let clients = try await withSentinel(group, watched) { try await $0.clientList() }
                return clients.split(separator: "\n").contains { $0.contains(" sub=1 ") }
            }
            try watched.pause()
            defer { try? watched.resume() }

            // Fail over through another sentinel; the old master stays up and is demoted.
            try await withSentinel(group, group.sentinels[1]) {
                _ = try await $0.send(RedisCommand("SENTINEL", "FAILOVER", group.options.masterName))
            }
            try await eventually(timeout: .seconds(60), "the old master to become a replica") {
                // The sentinel kills the old master's clients when it demotes it: a poll may fail.
                let role = try? await withServer(oldServer) { try await $0.role().role }
                return role == "slave"
            }
            #expect(try await redis.masterAddress() == old)  // the client did not hear of it

            try await redis.set("k", "v2")  // ROLE says replica: asks the sentinels again
            let new = try await redis.masterAddress()
            #expect(new != old)
            #expect(try await withServer(try #require(group.server(at: new))) { try await $0.get("k") } == "v2")
            #expect(try await redis.role().role == "master")
        }
    }

    /// A connection that survives a demotion gets READONLY: the roles are swapped by hand
    /// (`REPLICAOF`, which leaves clients connected, unlike Sentinel) and the sentinels are
    /// re-pointed with `SENTINEL REMOVE`/`MONITOR` (no +switch-master). The client's write meets
    /// READONLY on its open connection, forgets the master, asks the sentinels and is sent again,
    /// once, to the new master, within one `send`.
    @Test func readOnlyFromADemotedMasterIsRetried() async throws {
        try await withRedisSentinelGroup { group in
            let redis = try RedisClient(options: group.connectionOptions())
            defer { Task { await redis.close() } }
            try await redis.set("k", "v1")
            let oldServer = group.servers[0]
            let newServer = group.servers[1]
            #expect(try await redis.masterAddress() == .tcp(host: oldServer.host, port: oldServer.port))

            try await withServer(newServer) { _ = try await $0.send(RedisCommand("REPLICAOF", "NO", "ONE")) }
            try await withServer(oldServer) {
                _ = try await $0.send(RedisCommand("REPLICAOF", newServer.host, newServer.port))
            }
            let name = group.options.masterName
            for sentinel in group.sentinels {
                try await withSentinel(group, sentinel) { connection in
                    _ = try await connection.send(RedisCommand("SENTINEL", "REMOVE", name))
                    _ = try await connection.send(
                        RedisCommand("SENTINEL", "MONITOR", name, newServer.host, newServer.port, 2))
                }
            }
            #expect(try await withServer(oldServer) { try await $0.role().role } == "slave")

            try await redis.set("k", "v2")  // READONLY on the open connection, then the new master
            #expect(try await redis.masterAddress() == .tcp(host: newServer.host, port: newServer.port))
            #expect(try await withServer(newServer) { try await $0.get("k") } == "v2")
            #expect(try await redis.role().role == "master")
        }
    }

    @Test func sentinelAndMasterPasswords() async throws {
        try await withRedisSentinelGroup(.init(password: "data-secret", sentinelPassword: "sentinel-secret")) { group in
            let redis = try RedisClient(options: group.connectionOptions())
            defer { Task { await redis.close() } }
            #expect(try await redis.set("k", "v"))
            #expect(try await redis.get("k") == "v")

            var wrongSentinel = group.connectionOptions()
            wrongSentinel.topology = .sentinel(
                masterName: group.options.masterName,
                sentinels: group.sentinelAddresses,
                username: nil,
                password: "wrong"
            )
            let refused = try RedisClient(options: wrongSentinel)
            defer { Task { await refused.close() } }
            let sentinelError = await #expect(throws: RedisClientError.self) { try await refused.ping() }
            #expect(sentinelError?.code == .authenticationFailed)

            var wrongMaster = group.connectionOptions()
            wrongMaster.password = "wrong"
            let refusedByMaster = try RedisClient(options: wrongMaster)
            defer { Task { await refusedByMaster.close() } }
            let masterError = await #expect(throws: RedisClientError.self) { try await refusedByMaster.ping() }
            #expect(masterError?.code == .authenticationFailed)

            // No sentinel password at all.
            let none = try RedisClient(
                options: .sentinel(
                    masterName: group.options.masterName, sentinels: group.sentinelAddresses, password: "data-secret")
            )
            defer { Task { await none.close() } }
            await #expect(throws: RedisClientError.self) { try await none.ping() }
        }
    }

    @Test func unknownMasterNameAndCleanup() async throws {
        let processes = try await withRedisSentinelGroup { group in
            let redis = try RedisClient(
                options: .sentinel(masterName: "nobody", sentinels: group.sentinelAddresses)
            )
            defer { Task { await redis.close() } }
            let error = await #expect(throws: RedisClientError.self) { try await redis.ping() }
            #expect(error?.message.contains("nobody") == true)
            return group.sentinels.map { ($0.pid, $0.directory) } + group.servers.map { ($0.pid, $0.directory) }
        }
        // The scope stopped every process by PID and removed every directory.
        #expect(processes.count == 5)
        for (pid, directory) in processes {
            #expect(processHasExited(pid), "process \(pid) still runs")
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) still exists")
        }
    }
}

private func withSentinel<T: Sendable>(
    _ group: RedisSentinelGroup,
    _ sentinel: RedisSentinelGroup.Sentinel,
    _ body: (RedisConnection) async throws -> T
) async throws -> T {
    let connection = try await RedisConnection.connect(
        to: sentinel.address, options: group.sentinelConnectionOptions(sentinel))
    defer { Task { await connection.close() } }
    return try await body(connection)
}

private func withServer<T: Sendable>(
    _ server: RedisTestServer,
    _ body: (RedisConnection) async throws -> T
) async throws -> T {
    let connection = try await RedisConnection.connect(
        to: .tcp(host: server.host, port: server.port), options: server.connectionOptions())
    defer { Task { await connection.close() } }
    return try await body(connection)
}

/// `kill(pid, 0)` fails with ESRCH: no such process.
func processHasExited(_ pid: Int32) -> Bool {
    kill(pid, 0) == -1 && errno == ESRCH
}

/// What the writer task acknowledged, shared with the test body.
private final class WriterLog: Sendable {
    private struct State {
        var beforeKill: [Int] = []
        var afterKill: [Int] = []
        var killedAt: ContinuousClock.Instant?
        var firstAfterKill: ContinuousClock.Instant?
        var failures = 0
    }

    private let state = Mutex(State())

    /// Records an acknowledged write; returns the totals (all, and issued after the kill).
    func acknowledge(
        _ index: Int, issuedAt issued: ContinuousClock.Instant, at instant: ContinuousClock.Instant
    ) -> (Int, Int) {
        state.withLock { state in
            if let killedAt = state.killedAt, issued > killedAt {
                state.afterKill.append(index)
                if state.firstAfterKill == nil { state.firstAfterKill = instant }
            } else {
                state.beforeKill.append(index)
            }
            return (state.beforeKill.count + state.afterKill.count, state.afterKill.count)
        }
    }

    func failed() { state.withLock { $0.failures += 1 } }
    func markKill(at instant: ContinuousClock.Instant) { state.withLock { $0.killedAt = instant } }
    var acknowledged: (beforeKill: [Int], afterKill: [Int]) { state.withLock { ($0.beforeKill, $0.afterKill) } }
    var firstAcknowledgementAfterKill: ContinuousClock.Instant? { state.withLock { $0.firstAfterKill } }
    var failures: Int { state.withLock { $0.failures } }
}
