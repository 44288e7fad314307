import AsynqRedis
import AsynqTestSupport
import Foundation
import NIOCore
import Testing

/// Waits (yielding, bounded) until `condition` holds; for states that have no event to await.
func eventually(
    timeout: Duration = .seconds(10),
    _ what: String,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while try await !condition() {
        guard clock.now < deadline else {
            Issue.record("timed out waiting for: \(what)")
            throw RedisClientError(.timeout, "timed out waiting for: \(what)")
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

@Suite("Redis client against a real server")
struct RedisClientTests {
    @Test(arguments: [RedisConnectionOptions.ProtocolVersion.resp3, .resp2])
    func typedCommands(protocolVersion: RedisConnectionOptions.ProtocolVersion) async throws {
        try await withRedisServer { server in
            var options = server.connectionOptions()
            options.protocolVersion = protocolVersion
            let redis = try RedisClient(options: options)
            defer { Task { await redis.close() } }

            #expect(try await redis.ping() == "PONG")
            #expect(try await redis.set("s", "value"))
            #expect(try await redis.set("s", "other", condition: .ifNotExists) == false)
            #expect(try await redis.get("s") == "value")
            #expect(try await redis.get("missing") == nil)
            #expect(try await redis.set("t", "x", expiration: .seconds(100)))
            #expect((1...100).contains(try await redis.ttl("t")))
            #expect(try await redis.incr("n") == 1)
            #expect(try await redis.incrBy("n", 41) == 42)
            #expect(try await redis.hset("h", [("a", "1"), ("b", ByteBuffer(string: "2"))]) == 2)
            #expect(try await redis.hgetall("h").mapValues { String(buffer: $0) } == ["a": "1", "b": "2"])
            #expect(try await redis.hget("h", "b") == "2")
            #expect(try await redis.rpush("l", ["x", "y", "z"]) == 3)
            #expect(try await redis.lrange("l", 0, -1) == ["x", "y", "z"])
            #expect(try await redis.lmove(from: "l", to: "l2", .left, .right) == "x")
            #expect(try await redis.sadd("set", ["a", "b", "a"]) == 2)
            #expect(Set(try await redis.smembers("set")) == ["a", "b"])
            #expect(try await redis.zadd("z", [(1, "one"), (2.5, "two"), (3, "three")]) == 3)
            let withScores = try await redis.zrangeWithScores("z", 0, -1)
            #expect(withScores.map(\.member) == ["one", "two", "three"])
            #expect(withScores.map(\.score) == [1, 2.5, 3])
            #expect(try await redis.zrangeByScore("z", min: .exclusive(1), max: .positiveInfinity) == ["two", "three"])
            #expect(
                try await redis.zrangeByScore(
                    "z", min: .positiveInfinity, max: .negativeInfinity, reverse: true, limit: (0, 1))
                    == ["three"]
            )
            #expect(try await redis.zscore("z", "two") == 2.5)
            #expect(try await redis.zremRangeByScore("z", min: .negativeInfinity, max: .inclusive(2)) == 1)
            #expect(try await redis.type("z") == "zset")
            #expect(Set(try await redis.scanKeys(match: "*")) == ["s", "t", "n", "h", "l", "l2", "set", "z"])
            #expect(try await redis.del("s", "t", "nope") == 2)
            #expect(try await redis.memoryUsage("h") ?? 0 > 0)
            #expect(try await redis.role().role == "master")
            #expect(try await redis.time().seconds > 1_700_000_000)
            #expect(try await redis.info("server").contains("redis_version"))

            let error = await #expect(throws: RedisClientError.self) {
                try await redis.send(RedisCommand("LPUSH", "h", "x"))
            }
            #expect(error?.code == .serverError)
            #expect(error?.serverErrorPrefix == "WRONGTYPE")
        }
    }

    @Test func tenThousandPipelinedCommands() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            defer { Task { await redis.close() } }
            let commands = (0..<10_000).map { _ in RedisCommand("INCR", "counter") }
            let results = try await redis.pipeline(commands)
            #expect(results.count == 10_000)
            // Replies match requests in order.
            for (index, result) in results.enumerated() {
                #expect(try result.get().int == index + 1)
            }
        }
    }

    @Test func manyConcurrentCallersGetTheirOwnReplies() async throws {
        try await withRedisServer { server in
            var options = server.connectionOptions()
            options.maxConnections = 4
            let redis = try RedisClient(options: options)
            defer { Task { await redis.close() } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<50 {
                    group.addTask {
                        for i in 0..<200 {
                            let echoed = try await redis.echo("\(caller)-\(i)")
                            #expect(echoed == "\(caller)-\(i)")
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func sixteenMebibyteValue() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            defer { Task { await redis.close() } }
            var value = ByteBuffer()
            for i in 0..<(16 * 1024 * 1024) { value.writeInteger(UInt8(truncatingIfNeeded: i &* 31)) }
            try await redis.set("big", value)
            let read = try #require(try await redis.getBuffer("big"))
            #expect(read.readableBytes == 16 * 1024 * 1024)
            #expect(read == value)
        }
    }

    @Test func transactionsAreAtomicAndReportErrors() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            defer { Task { await redis.close() } }
            let results = try await redis.transaction([
                RedisCommand("SET", "a", "1"),
                RedisCommand("INCR", "a"),
                RedisCommand("LPUSH", "a", "x"),  // fails at EXEC time, the others still run
            ])
            #expect(try results[1].get().int == 2)
            if case .failure(let error) = results[2] {
                #expect(error.serverErrorPrefix == "WRONGTYPE")
            } else {
                Issue.record("expected WRONGTYPE")
            }
            // A command refused while queueing aborts the whole transaction.
            await #expect(throws: RedisClientError.self) {
                try await redis.transaction([RedisCommand("SET", "b", "1"), RedisCommand("NOSUCHCOMMAND")])
            }
            #expect(try await redis.get("b") == nil)

            // WATCH on a dedicated connection: a concurrent write aborts EXEC.
            let aborted = try await redis.withDedicatedConnection { connection in
                try await connection.send(RedisCommand("WATCH", "a"))
                try await redis.set("a", "changed")
                let exec = try await connection.pipeline([
                    RedisCommand("MULTI"), RedisCommand("SET", "a", "mine"), RedisCommand("EXEC"),
                ])
                return try exec[2].get().isNull
            }
            #expect(aborted)
            #expect(try await redis.get("a") == "changed")
        }
    }

    @Test func scriptsReloadAfterScriptFlush() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            defer { Task { await redis.close() } }
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            #expect(try await redis.scriptLoad(script) == script.sha1)
            #expect(try await redis.run(script, keys: ["k"], arguments: [5]).int == 5)
            try await redis.scriptFlush()
            #expect(try await redis.scriptExists([script]) == [false])
            // NOSCRIPT → EVAL once, which also caches it again.
            #expect(try await redis.run(script, keys: ["k"], arguments: [2]).int == 7)
            #expect(try await redis.scriptExists([script]) == [true])
            try await redis.scriptFlush()
            let batch = try await redis.run(
                pipeline: (0..<3).map { _ in RedisScriptCall(script, keys: ["k"], arguments: [1]) })
            #expect(try batch.map { try $0.get().int } == [8, 9, 10])
            // A script error is a server error, not a reload loop.
            let failing = RedisScript("return redis.error_reply('NOT FOUND')")
            let error = await #expect(throws: RedisClientError.self) { try await redis.run(failing, keys: []) }
            #expect(error?.message == "NOT FOUND")
        }
    }

    @Test func aclUserAndWrongPassword() async throws {
        let user = RedisTestServer.ACLUser(name: "worker", password: "s3cret")
        try await withRedisServer(.init(password: "masterpw", aclUsers: [user])) { server in
            let asUser = try RedisClient(options: server.connectionOptions(user: user))
            #expect(try await asUser.send(RedisCommand("ACL", "WHOAMI")).string == "worker")
            await asUser.close()

            let asDefault = try RedisClient(options: server.connectionOptions())
            #expect(try await asDefault.ping() == "PONG")
            await asDefault.close()

            for protocolVersion in [RedisConnectionOptions.ProtocolVersion.resp3, .resp2] {
                var wrong = server.connectionOptions(user: .init(name: "worker", password: "nope"))
                wrong.protocolVersion = protocolVersion
                let error = await #expect(throws: RedisClientError.self) {
                    try await RedisConnection.connect(to: .tcp(host: server.host, port: server.port), options: wrong)
                }
                #expect(error?.code == .authenticationFailed, "\(String(describing: error))")
            }
            var anonymous = server.connectionOptions()
            anonymous.password = nil
            let noAuth = try RedisClient(options: anonymous)
            let error = await #expect(throws: RedisClientError.self) { try await noAuth.ping() }
            #expect(error?.code == .authenticationFailed, "\(String(describing: error))")
            await noAuth.close()
        }
    }

    @Test func tlsWithClientCertificate() async throws {
        try await withRedisServer(.init(tls: true)) { server in
            let redis = try RedisClient(options: server.tlsConnectionOptions())
            #expect(try await redis.ping() == "PONG")
            try await redis.set("over-tls", "yes")
            #expect(try await redis.get("over-tls") == "yes")
            await redis.close()

            // Verifying against the IP address (no server name) works with the certificate's IP SAN.
            let byIP = try RedisClient(options: server.tlsConnectionOptions(serverName: nil))
            #expect(try await byIP.ping() == "PONG")
            await byIP.close()

            // A CA that did not sign the server certificate is refused…
            var untrusted = try server.tlsConnectionOptions()
            untrusted.tls?.caFile = server.certificates?.clientCert
            let refused = try RedisClient(options: untrusted)
            let error = await #expect(throws: RedisClientError.self) { try await refused.ping() }
            #expect(error?.code == .tlsFailure || error?.code == .connectionClosed, "\(String(describing: error))")
            await refused.close()

            // …unless verification is explicitly skipped.
            untrusted.tls?.skipVerify = true
            let skipping = try RedisClient(options: untrusted)
            #expect(try await skipping.ping() == "PONG")
            await skipping.close()

            // Missing files are a clear configuration error.
            var missing = try server.tlsConnectionOptions()
            missing.tls?.caFile = "/nonexistent/ca.pem"
            #expect(throws: RedisClientError.self) { try RedisClient(options: missing) }
        }
    }

    @Test func unixSocketAndDatabaseSelection() async throws {
        try await withRedisServer(.init(unixSocket: true)) { server in
            let db3 = try RedisClient(options: server.unixSocketConnectionOptions(database: 3))
            try await db3.set("where", "db3")
            let db0 = try RedisClient(options: server.connectionOptions())
            #expect(try await db0.get("where") == nil)
            let viaURI = try RedisClient(uri: "redis-socket://\(try #require(server.unixSocketPath))?db=3")
            #expect(try await viaURI.get("where") == "db3")
            for client in [db3, db0, viaURI] { await client.close() }
        }
    }

    @Test func cancelledCommandLeavesConnectionInSync() async throws {
        try await withRedisServer { server in
            let connection = try await RedisConnection.connect(
                to: .tcp(host: server.host, port: server.port),
                options: server.connectionOptions()
            )
            try server.pause()
            let waiting = Task { try await connection.send(RedisCommand("ECHO", "first")) }
            try await eventually("the command is in flight") { connection.pendingRequests == 1 }
            waiting.cancel()
            let error = await #expect(throws: RedisClientError.self) { try await waiting.value }
            #expect(error?.code == .cancelled)
            try server.resume()
            // The late reply to "first" is dropped; the next caller gets its own reply.
            #expect(try await connection.echo("second") == "second")
            #expect(try await connection.echo("third") == "third")
            await connection.close()
        }
    }

    @Test func cancelledCallerLeavesPoolUsable() async throws {
        try await withRedisServer { server in
            var options = server.connectionOptions()
            options.maxConnections = 1
            let redis = try RedisClient(options: options)
            defer { Task { await redis.close() } }
            _ = try await redis.ping()
            try server.pause()
            let tasks = (0..<10).map { i in Task { try await redis.echo("cancelled-\(i)") } }
            for task in tasks { task.cancel() }
            for task in tasks { _ = try? await task.value }
            try server.resume()
            for i in 0..<20 { #expect(try await redis.echo("after-\(i)") == "after-\(i)") }
            // A cancelled blocking command closes its dedicated connection instead of leaving it blocked.
            let blocked = Task { try await redis.blmove(from: "empty", to: "dst", .left, .right, timeout: .zero) }
            try await eventually("BLMOVE is blocked") {
                try await redis.send(RedisCommand("INFO", "clients")).string?.contains("blocked_clients:1") == true
            }
            blocked.cancel()
            _ = try? await blocked.value
            try await eventually("the blocked client is gone") {
                try await redis.send(RedisCommand("INFO", "clients")).string?.contains("blocked_clients:0") == true
            }
            #expect(try await redis.ping() == "PONG")
        }
    }

    @Test func commandTimeoutClosesTheConnection() async throws {
        try await withRedisServer { server in
            var options = server.connectionOptions()
            options.commandTimeout = .milliseconds(300)
            let redis = try RedisClient(options: options)
            defer { Task { await redis.close() } }
            _ = try await redis.ping()
            try server.pause()
            let error = await #expect(throws: RedisClientError.self) { try await redis.ping() }
            #expect(error?.code == .timeout)
            try server.resume()
            #expect(try await redis.ping() == "PONG")
        }
    }

    @Test func serverKilledMidPipelineThenRestarted() async throws {
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            defer { Task { await redis.close() } }
            _ = try await redis.ping()
            let outcomes = try await withThrowingTaskGroup(of: Int.self) { group in
                for caller in 0..<20 {
                    group.addTask {
                        var errors = 0
                        for round in 0..<50 {
                            do {
                                let commands = (0..<1000).map { RedisCommand("SET", "k\(caller)", $0) }
                                _ = try await redis.pipeline(commands)
                            } catch let error as RedisClientError {
                                #expect(error.isConnectionError || error.code == .connectionFailed, "\(error)")
                                errors += 1
                                if round > 0 { return errors }
                            }
                        }
                        return errors
                    }
                }
                try await eventually("pipelines are running") {
                    try await redis.send(RedisCommand("EXISTS", "k0", "k19")).int == 2
                }
                await server.kill()
                var total = 0
                for try await errors in group { total += errors }
                return total
            }
            #expect(outcomes > 0)
            // Commands fail fast and clearly while the server is down…
            let down = await #expect(throws: RedisClientError.self) { try await redis.ping() }
            #expect(down?.code == .connectionFailed || down?.code == .connectionClosed, "\(String(describing: down))")
            // …and the same client works again once it is back.
            try await server.restart()
            try await eventually("the client reconnects") { (try? await redis.ping()) == "PONG" }
            try await redis.set("after", "restart")
            #expect(try await redis.get("after") == "restart")
        }
    }

    @Test func connectingToNothingFailsClearly() async throws {
        let port = try PortAllocator.reserveOne()
        let redis = try RedisClient(options: .standalone(host: "127.0.0.1", port: port))
        let error = await #expect(throws: RedisClientError.self) { try await redis.ping() }
        #expect(error?.code == .connectionFailed, "\(String(describing: error))")
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        await redis.close()
        let closed = await #expect(throws: RedisClientError.self) { try await redis.ping() }
        #expect(closed?.code == .poolClosed)
    }
}
