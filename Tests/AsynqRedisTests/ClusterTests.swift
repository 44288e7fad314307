import AsynqRedis
import AsynqTestSupport
import Foundation
import NIOCore
import Testing

@Suite("Cluster hash slots")
struct ClusterHashSlotTests {
    @Test func crc16AndSlotVectors() {
        // The CRC16-XMODEM check value, as in the Redis Cluster specification.
        #expect(RedisClusterHashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(RedisClusterHashSlot.crc16([]) == 0)
        // Queue names of asynq (redis-layout.md §6).
        #expect(RedisClient.clusterSlot(forKey: "default") == 5718)
        #expect(RedisClient.clusterSlot(forKey: "critical") == 8090)
        #expect(RedisClient.clusterSlot(forKey: "low") == 15214)
        #expect(RedisClient.clusterSlot(forKey: "123456789") == 0x31C3 & 0x3FFF)
    }

    @Test func hashTags() {
        let slot = RedisClusterHashSlot.slot(forKey:) as (String) -> Int
        #expect(slot("asynq:{default}:pending") == 5718)
        #expect(slot("asynq:{default}:t:0193") == slot("default"))
        #expect(slot("{user1000}.following") == slot("{user1000}.followers"))
        // Only the first {…} counts; an empty tag or an unclosed brace hashes the whole key.
        #expect(slot("foo{bar}{zap}") == slot("bar"))
        #expect(slot("foo{{bar}}zap") == slot("{bar"))
        #expect(slot("foo{}{bar}") != slot("bar"))
        #expect(slot("foo{}{bar}") == Int(RedisClusterHashSlot.crc16(Array("foo{}{bar}".utf8)) & 0x3FFF))
        #expect(slot("foo{bar") == Int(RedisClusterHashSlot.crc16(Array("foo{bar".utf8)) & 0x3FFF))
        #expect(slot("}{x}") == slot("x"))
        #expect(RedisClusterHashSlot.slot(forKey: ByteBuffer(string: "a{b}c")) == slot("b"))
        #expect(RedisClusterHashSlot.slot(forKey: [UInt8]("é{ü}".utf8)) == slot("ü"))
    }

    @Test func clusterURI() throws {
        let options = try RedisConnectionOptions(uri: "redis-cluster://:secret@10.0.0.1:7000,10.0.0.2,[::1]:7002")
        #expect(
            options.topology
                == .cluster(nodes: [
                    .tcp(host: "10.0.0.1", port: 7000), .tcp(host: "10.0.0.2", port: 6379),
                    .tcp(host: "::1", port: 7002),
                ]))
        #expect(options.password == "secret")
        #expect(options.username == nil)
        #expect(throws: RedisClientError.self) { try RedisConnectionOptions(uri: "redis-cluster://h1:7000/2") }
        #expect(throws: RedisClientError.self) { try RedisConnectionOptions(uri: "redis-cluster://h1:7000,,h2") }
        #expect(throws: RedisClientError.self) { try RedisClient(options: .init(topology: .cluster(nodes: []))) }
    }

    @Test func commandKeys() {
        #expect(RedisCommand("GET", "k").firstKey.map { String(buffer: $0) } == "k")
        #expect(RedisCommand("EVALSHA", "abc", 2, "k1", "k2", "arg").firstKey.map { String(buffer: $0) } == "k1")
        #expect(RedisCommand("EVAL", "return 1", 0).firstKey == nil)
        #expect(RedisCommand("PING").firstKey == nil)
        #expect(RedisCommand("PUBLISH", "channel", "m").firstKey == nil)
        #expect(RedisCommand("MEMORY", "USAGE", "k").firstKey.map { String(buffer: $0) } == "k")
        #expect(RedisCommand("XREAD", "COUNT", 2, "STREAMS", "s1", "0").firstKey.map { String(buffer: $0) } == "s1")
        #expect(RedisCommand("ZUNION", 2, "a", "b").firstKey.map { String(buffer: $0) } == "a")
    }
}

@Suite("Redis Cluster", .timeLimit(.minutes(3)))
struct ClusterTests {
    @Test func keysOnEveryMasterThroughOneClient() async throws {
        try await withRedisCluster { cluster in
            let redis = try RedisClient(options: cluster.connectionOptions())
            defer { Task { await redis.close() } }
            #expect(redis.isCluster)

            let keys = (0..<300).map { "key:\($0)" }
            for key in keys { try await redis.set(key, key.uppercased()) }
            for key in keys { #expect(try await redis.get(key) == key.uppercased()) }

            // The keys really are spread over the three masters.
            let topology = try await redis.clusterTopology()
            #expect(topology.masters.count == 3)
            #expect(topology.coveredSlotCount == 16384)
            let owners = Set(keys.compactMap { topology.master(forSlot: RedisClient.clusterSlot(forKey: $0))?.id })
            #expect(owners.count == 3)
            for master in try await cluster.masters() {
                let size = try await cluster.withNodeConnection(master) { try await $0.dbSize() }
                #expect(size > 0 && size < 300)
            }

            // The server agrees with the local slot computation.
            for key in ["default", "critical", "low", "asynq:{default}:pending", "key:7"] {
                #expect(try await redis.clusterKeySlot(key) == RedisClient.clusterSlot(forKey: key))
            }
            let nodes = try await redis.clusterNodes(servingKey: "asynq:{critical}:pending")
            #expect(nodes.count == 2)
            #expect(nodes.first?.role == .master)
            #expect(nodes.last?.role == .replica)

            // Commands for the whole keyspace visit every master.
            #expect(Set(try await redis.scanKeys(match: "key:*")) == Set(keys))
            #expect(Set(try await redis.keys("key:*")) == Set(keys))
            #expect(try await redis.dbSize() == 300)

            // Blocking commands go to the key's node on a dedicated connection.
            #expect(try await redis.rpush("{q}:src", ["a", "b"]) == 2)
            #expect(try await redis.blmove(from: "{q}:src", to: "{q}:dst", .left, .right, timeout: .seconds(1)) == "a")
            #expect(
                try await redis.blmove(from: "{q}:empty", to: "{q}:dst", .left, .right, timeout: .milliseconds(100))
                    == nil)
            let value = try await redis.withDedicatedConnection(forKey: "{q}:dst") {
                try await $0.lrange("{q}:dst", 0, -1)
            }
            #expect(value == ["a"])

            try await redis.flushDB()
            #expect(try await redis.dbSize() == 0)
        }
    }

    @Test func pipelinesAndTransactionsAcrossNodes() async throws {
        try await withRedisCluster { cluster in
            let redis = try RedisClient(options: cluster.connectionOptions())
            defer { Task { await redis.close() } }
            var commands: [RedisCommand] = []
            for i in 0..<60 {
                commands.append(RedisCommand("SET", "p:\(i)", "v\(i)"))
                commands.append(RedisCommand("INCRBY", "n:\(i)", i))
                commands.append(RedisCommand("GET", "p:\(i)"))
            }
            commands.append(RedisCommand("PING"))
            commands.append(RedisCommand("LPUSH", "p:0", "x"))  // WRONGTYPE, in its place
            let results = try await redis.pipeline(commands)
            #expect(results.count == commands.count)
            for i in 0..<60 {
                #expect(try results[3 * i].get().string == "OK")
                #expect(try results[3 * i + 1].get().int == i)
                #expect(try results[3 * i + 2].get().string == "v\(i)")
            }
            #expect(try results[180].get().string == "PONG")
            guard case .failure(let error) = results[181] else {
                Issue.record("expected WRONGTYPE, got \(results[181])")
                return
            }
            #expect(error.serverErrorPrefix == "WRONGTYPE")
            // The pipeline touched every master.
            let topology = try await redis.clusterTopology()
            let owners = Set(
                (0..<60).compactMap { topology.master(forSlot: RedisClient.clusterSlot(forKey: "p:\($0)")) })
            #expect(owners.count == 3)

            // Transactions need one slot.
            let replies = try await redis.transaction([
                RedisCommand("SET", "{acct}:a", 10),
                RedisCommand("INCRBY", "{acct}:b", 5),
                RedisCommand("MGET", "{acct}:a", "{acct}:b"),
            ])
            #expect(try replies[2].get().decode(as: [String].self) == ["10", "5"])
            let crossSlot = await #expect(throws: RedisClientError.self) {
                try await redis.transaction([RedisCommand("SET", "a", 1), RedisCommand("SET", "b", 2)])
            }
            #expect(crossSlot?.code == .crossSlot)
            #expect(try await redis.get("a") == nil)  // nothing was sent

            // Pub/sub: subscribe on one node, publish through another, as Redis Cluster broadcasts.
            let received = try await redis.withSubscription(channels: ["news"]) { subscription in
                var iterator = subscription.makeAsyncIterator()
                #expect(try await iterator.next() == .ready)
                for master in try await cluster.masters() {
                    _ = try await cluster.withNodeConnection(master) {
                        try await $0.publish("news", "from \(master.port)")
                    }
                }
                var messages: [String] = []
                for _ in 0..<3 {
                    if case .message(let message) = try await iterator.next() { messages.append(message.payloadString) }
                }
                return messages
            }
            #expect(received.count == 3)
        }
    }

    @Test func movedAfterSlotMigration() async throws {
        try await withRedisCluster { cluster in
            let redis = try RedisClient(options: cluster.connectionOptions())
            defer { Task { await redis.close() } }
            let key = "asynq:{default}:pending"
            let slot = RedisClient.clusterSlot(forKey: key)
            #expect(slot == 5718)
            try await redis.set(key, "before")
            try await redis.set("asynq:{default}:other", "x")
            let source = try await cluster.owner(ofSlot: slot)
            let target = try #require(try await cluster.masters().first { $0 !== source })
            #expect(try await redis.clusterTopology().master(forSlot: slot)?.address == cluster.address(of: source))

            try await cluster.migrateSlot(slot, to: target)
            // The client's map is stale: MOVED sends it to the new owner and refreshes the map.
            #expect(try await redis.get(key) == "before")
            #expect(try await redis.clusterTopology().master(forSlot: slot)?.address == cluster.address(of: target))
            let onTarget = try await cluster.withNodeConnection(target) { try await $0.get(key) }
            #expect(onTarget == "before")

            // Back again, then a pipeline and a transaction meet MOVED.
            try await cluster.migrateSlot(slot, to: source)
            let results = try await redis.pipeline([
                RedisCommand("GET", key), RedisCommand("SET", "elsewhere", "1"),
                RedisCommand("GET", "asynq:{default}:other"),
            ])
            #expect(try results.map { try $0.get().string } == ["before", "OK", "x"])
            try await cluster.migrateSlot(slot, to: target)
            let transaction = try await redis.transaction([
                RedisCommand("SET", key, "after"), RedisCommand("GET", "asynq:{default}:other"),
            ])
            #expect(try transaction[1].get().string == "x")
            #expect(try await cluster.withNodeConnection(target) { try await $0.get(key) } == "after")
        }
    }

    @Test func askDuringMigration() async throws {
        let processes = try await withRedisCluster { cluster in
            let redis = try RedisClient(options: cluster.connectionOptions())
            defer { Task { await redis.close() } }
            let keys = (0..<10).map { "{mig}:\($0)" }
            for key in keys { try await redis.set(key, "value-\(key)") }
            let slot = RedisClient.clusterSlot(forKey: "mig")
            let source = try await cluster.owner(ofSlot: slot)
            let target = try #require(try await cluster.masters().first { $0 !== source })
            let migration = try await cluster.beginSlotMigration(slot, to: target)
            try await migration.moveKeys(Array(keys.prefix(5)))
            // The source no longer has the first five keys: it answers ASK for them.
            let direct = try await cluster.withNodeConnection(source) { connection in
                do {
                    _ = try await connection.get(keys[0])
                    return "no error"
                } catch let error as RedisClientError {
                    return String(error.serverErrorPrefix ?? "")
                }
            }
            #expect(direct == "ASK")

            #expect(try await redis.get(keys[0]) == "value-\(keys[0])")  // ASK followed
            #expect(try await redis.get(keys[9]) == "value-\(keys[9])")  // still on the source
            try await redis.set(keys[1], "changed")  // a write to a moved key
            try await redis.set("{mig}:new", "created")  // a new key goes to the importing node
            let results = try await redis.pipeline(keys.map { RedisCommand("GET", $0) })
            #expect(
                try results.map { try $0.get().string }
                    == keys.map { $0 == keys[1] ? "changed" : "value-\($0)" })
            // ASK is a one-off: the slot still belongs to the source in the client's map.
            #expect(try await redis.clusterTopology().master(forSlot: slot)?.address == cluster.address(of: source))

            try await migration.finish()
            for key in keys {
                #expect(try await redis.get(key) == (key == keys[1] ? "changed" : "value-\(key)"))
            }
            #expect(try await redis.get("{mig}:new") == "created")
            #expect(try await cluster.withNodeConnection(target) { try await $0.dbSize() } >= 11)
            return cluster.nodes.map { ($0.pid, $0.directory) }
        }
        // The scope stopped every node by PID and removed every directory.
        #expect(processes.count == 6)
        for (pid, directory) in processes {
            #expect(processHasExited(pid), "process \(pid) still runs")
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) still exists")
        }
    }

    /// A multi-key command whose keys a migration has split between the two nodes gets
    /// `TRYAGAIN` (from whichever node is asked): the client retries it, with backoff, until the
    /// slot settles, and then follows `MOVED`. With no retry time it fails at once.
    @Test func tryAgainIsRetriedUntilTheSlotSettles() async throws {
        try await withRedisCluster(.init(replicasPerMaster: 0)) { cluster in
            let redis = try RedisClient(options: cluster.connectionOptions())
            defer { Task { await redis.close() } }
            try await redis.set("{try}:a", "1")
            try await redis.set("{try}:b", "2")
            let slot = RedisClient.clusterSlot(forKey: "try")
            let source = try await cluster.owner(ofSlot: slot)
            let masters = try await cluster.masters()
            let target = try #require(masters.first { $0 !== source })
            let migration = try await cluster.beginSlotMigration(slot, to: target)
            try await migration.moveKeys(["{try}:a"])

            let refused = await #expect(throws: RedisClientError.self) {
                try await RedisClient.withClusterRetryTimeout(.zero) {
                    try await redis.mget(["{try}:a", "{try}:b"])
                }
            }
            #expect(refused?.serverErrorPrefix == "TRYAGAIN")

            async let values = redis.mget(["{try}:a", "{try}:b"])
            try await eventually("the client retrying after TRYAGAIN") {
                redis.clusterRedirectionCounts.tryAgain >= 3
            }
            try await migration.finish()
            #expect(try await values == ["1", "2"])
            // Then MOVED, or ASK when the retry fell between the two `SETSLOT … NODE`.
            let counts = redis.clusterRedirectionCounts
            #expect(counts.moved + counts.ask >= 1)
            #expect(counts.clusterDown == 0)
        }
    }

    /// A master crashes; its replica is promoted by the cluster (cluster-node-timeout 2 s). The
    /// same client finds the new master by refreshing its slot map after connection failures.
    @Test func writesResumeAfterAClusterFailover() async throws {
        try await withRedisCluster { cluster in
            let redis = try RedisClient(options: cluster.connectionOptions())
            defer { Task { await redis.close() } }
            let key = "asynq:{default}:pending"
            try await redis.set(key, "before")
            let owner = try await cluster.owner(ofSlot: 5718)
            let clock = ContinuousClock()
            let killedAt = clock.now
            await owner.kill()
            // No event tells a client that the cluster promoted a replica: retry, bounded.
            let failures = try await withTestDeadline(.seconds(60), "a write after the cluster failover") {
                var failures = 0
                while true {
                    do {
                        try await redis.set(key, "after")
                        return failures
                    } catch {
                        failures += 1
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
            print(
                "[cluster failover] kill -> first acknowledged write: \(clock.now - killedAt), failed attempts: \(failures)"
            )
            #expect(try await redis.get(key) == "after")
            let newOwner = try await redis.clusterTopology().master(forSlot: 5718)
            #expect(newOwner?.address != cluster.address(of: owner))
            #expect(try await redis.get("asynq:{default}:pending") == "after")
        }
    }

    @Test func scriptsRunOnTheKeysNode() async throws {
        try await withRedisCluster { cluster in
            let redis = try RedisClient(options: cluster.connectionOptions())
            defer { Task { await redis.close() } }
            let script = RedisScript(
                "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])"
            )
            let key = "asynq:{critical}:value"
            let counter = "asynq:{critical}:counter"
            #expect(try await redis.run(script, keys: [key, counter], arguments: ["one"]).int == 1)
            let owner = try await cluster.owner(ofSlot: RedisClient.clusterSlot(forKey: key))
            #expect(try await cluster.withNodeConnection(owner) { try await $0.get(key) } == "one")
            #expect(try await cluster.withNodeConnection(owner) { try await $0.scriptExists([script]) } == [true])

            // Scripts of several slots in one pipeline.
            let calls = ["default", "critical", "low"].map { queue in
                RedisScriptCall(
                    script, keys: ["asynq:{\(queue)}:value", "asynq:{\(queue)}:counter"], arguments: [queue])
            }
            let results = try await redis.run(pipeline: calls)
            #expect(try results.map { try $0.get().int } == [1, 2, 1])

            // The slot moves to a node that has never seen the script: MOVED, then NOSCRIPT, then EVAL.
            let target = try #require(try await cluster.masters().first { $0 !== owner })
            try await cluster.migrateSlot(RedisClient.clusterSlot(forKey: key), to: target)
            try await cluster.withNodeConnection(target) { try await $0.scriptFlush() }
            #expect(try await cluster.withNodeConnection(target) { try await $0.scriptExists([script]) } == [false])
            #expect(try await redis.run(script, keys: [key, counter], arguments: ["two"]).int == 3)
            #expect(try await cluster.withNodeConnection(target) { try await $0.get(key) } == "two")

            // The same in a pipeline, after flushing the scripts of every node.
            for node in cluster.nodes { try await cluster.withNodeConnection(node) { try await $0.scriptFlush() } }
            let again = try await redis.run(pipeline: calls)
            #expect(try again.map { try $0.get().int } == [2, 4, 2])
            // SCRIPT LOAD goes to every master.
            try await redis.scriptLoad(script)
            for master in try await cluster.masters() {
                #expect(try await cluster.withNodeConnection(master) { try await $0.scriptExists([script]) } == [true])
            }
        }
    }
}
