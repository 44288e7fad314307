public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL

/// A Redis client: a pool of pipelined connections plus dedicated connections for blocking
/// commands, transactions with `WATCH`, and subscriptions.
///
/// ```swift
/// let redis = try RedisClient(options: .standalone(host: "127.0.0.1", port: 6379))
/// try await redis.set("greeting", "hello")
/// let value = try await redis.get("greeting")
/// await redis.close()
/// ```
///
/// Every error thrown is a ``RedisClientError``. A lost connection is replaced on the next
/// command; commands that were in flight on it fail with `.connectionClosed` (the client never
/// resends a command that may have reached the server, since most are not idempotent).
///
/// The same API works against one server, a Sentinel group (the master is found through the
/// sentinels and followed across failovers) and a Redis Cluster (commands are routed by hash
/// slot and follow `MOVED`/`ASK`); see `docs/HIGH_AVAILABILITY.md`.
public final class RedisClient: Sendable {
    public let options: RedisConnectionOptions
    public let logger: Logger

    /// How commands reach Redis.
    enum Backend: Sendable {
        /// One server, or the master of a Sentinel group (`sentinel` non-nil).
        case single(RedisConnectionPool, sentinel: RedisSentinelMonitor?)
        /// A Redis Cluster.
        case cluster(RedisClusterRouter)
    }

    let backend: Backend

    /// Creates a client; no connection is opened until the first command.
    ///
    /// - `.standalone`: one pool of connections to the server.
    /// - `.sentinel`: the master is found through the sentinels and followed across failovers
    ///   (see ``RedisConnectionOptions/sentinel(masterName:sentinels:sentinelUsername:sentinelPassword:username:password:database:tls:)``).
    /// - `.cluster`: commands are routed by the hash slot of their first key, one pool per master.
    public init(
        options: RedisConnectionOptions,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "AsynqRedis")
    ) throws {
        self.options = options
        self.logger = logger
        let tlsContext = try options.tls.map { try TLSContextCache.makeContext($0) }
        switch options.topology {
        case .standalone(let address):
            backend = .single(
                RedisConnectionPool(
                    options: options,
                    tlsContext: tlsContext,
                    eventLoopGroup: eventLoopGroup,
                    logger: logger,
                    addressProvider: { address }
                ),
                sentinel: nil
            )
        case .sentinel(let masterName, let sentinels, let username, let password):
            let monitor = try RedisSentinelMonitor(
                masterName: masterName,
                sentinels: sentinels,
                sentinelUsername: username,
                sentinelPassword: password,
                options: options,
                tlsContext: tlsContext,
                eventLoopGroup: eventLoopGroup,
                logger: logger
            )
            let pool = RedisConnectionPool(
                options: options,
                tlsContext: tlsContext,
                eventLoopGroup: eventLoopGroup,
                logger: logger,
                connector: { eventLoop in try await monitor.connectToMaster(eventLoop: eventLoop) }
            )
            monitor.attach(pool)
            backend = .single(pool, sentinel: monitor)
        case .cluster(let nodes):
            backend = .cluster(
                try RedisClusterRouter(
                    seeds: nodes,
                    options: options,
                    tlsContext: tlsContext,
                    eventLoopGroup: eventLoopGroup,
                    logger: logger
                )
            )
        }
    }

    /// Creates a client from an asynq-style URI (`redis://`, `rediss://`, `redis-socket://`, `redis-sentinel://`).
    public convenience init(
        uri: String,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "AsynqRedis")
    ) throws {
        try self.init(options: RedisConnectionOptions(uri: uri), eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// Whether this client talks to a Redis Cluster.
    public var isCluster: Bool {
        if case .cluster = backend { return true }
        return false
    }

    /// Sends a command and returns its reply; error replies are thrown.
    ///
    /// A command is sent again (once) when its connection was lost before it was written, and,
    /// with Sentinel, when a demoted master refused it with `READONLY`. In a cluster it goes to
    /// the master of its first key's slot and follows `MOVED`/`ASK` redirections.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RESPToken {
        switch backend {
        case .cluster(let router):
            return try await router.send(command)
        case .single(let pool, let sentinel):
            var retriedNotSent = false
            var retriedReadOnly = false
            while true {
                var address: RedisServerAddress?
                do {
                    if command.blockingTimeout != nil {
                        return try await withDedicatedConnection(pool: pool) { connection in
                            address = connection.address
                            return try await connection.send(command)
                        }
                    }
                    let connection = try await pool.sharedConnection()
                    address = connection.address
                    return try await connection.send(command)
                } catch let error as RedisClientError where error.wasNotSent && !retriedNotSent {
                    // The connection died before the command was written: safe to use another one.
                    retriedNotSent = true
                } catch let error as RedisClientError
                    where error.serverErrorPrefix == "READONLY" && !retriedReadOnly && sentinel != nil
                {
                    // A master demoted to replica: the command did not run; find the new master.
                    retriedReadOnly = true
                    if let address { await sentinel?.masterRefused(at: address) }
                }
            }
        }
    }

    /// Sends commands in one write on one connection; one result per command, in order.
    /// Not atomic: other clients' commands may run between them (use ``transaction(_:)``).
    ///
    /// In a cluster the commands are split per node and sent concurrently; each node runs its
    /// share in order, but there is no order between nodes. A node whose connection is lost
    /// after its share was sent fails those commands (in the array) instead of the whole call.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>] {
        switch backend {
        case .cluster(let router):
            return try await router.pipeline(commands)
        case .single(let pool, let sentinel):
            var (results, address) = try await singlePipeline(commands, pool: pool)
            guard let sentinel else { return results }
            let refused = results.indices.filter { index in
                if case .failure(let error) = results[index], error.serverErrorPrefix == "READONLY" { return true }
                return false
            }
            guard !refused.isEmpty else { return results }
            // Those commands did not run (the others did): send them again to the new master.
            await sentinel.masterRefused(at: address)
            let retried = try await singlePipeline(refused.map { commands[$0] }, pool: pool).results
            for (index, result) in zip(refused, retried) { results[index] = result }
            return results
        }
    }

    private func singlePipeline(
        _ commands: [RedisCommand], pool: RedisConnectionPool
    ) async throws -> (results: [Result<RESPToken, RedisClientError>], address: RedisServerAddress) {
        let connection = try await pool.sharedConnection()
        do {
            return (try await connection.pipeline(commands), connection.address)
        } catch let error as RedisClientError where error.wasNotSent {
            let connection = try await pool.sharedConnection()
            return (try await connection.pipeline(commands), connection.address)
        }
    }

    /// Runs commands atomically with `MULTI`/`EXEC`, written together in one flush so no other
    /// command on the shared connection can fall between them. Returns the result of each
    /// command; throws if the transaction was aborted (`EXECABORT`) or a command was refused
    /// when queued.
    ///
    /// In a cluster every key must be in one hash slot (use a `{hash tag}`); otherwise it throws
    /// `.crossSlot` without sending anything.
    public func transaction(_ commands: [RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>] {
        switch backend {
        case .cluster(let router):
            return try await router.transaction(commands)
        case .single(let pool, let sentinel):
            let batch = [RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")]
            var (results, address) = try await singlePipeline(batch, pool: pool)
            if let sentinel,
                results.dropFirst().contains(where: { result in
                    if case .failure(let error) = result { return error.serverErrorPrefix == "READONLY" }
                    return false
                })
            {
                // Refused by a demoted master: the transaction was aborted as a whole; run it again.
                await sentinel.masterRefused(at: address)
                results = try await singlePipeline(batch, pool: pool).results
            }
            return try Self.transactionResults(results)
        }
    }

    /// Interprets the results of `MULTI`, the queued commands and `EXEC`.
    static func transactionResults(
        _ results: [Result<RESPToken, RedisClientError>]
    ) throws -> [Result<RESPToken, RedisClientError>] {
        guard let exec = results.last else { return [] }
        for queued in results.dropFirst().dropLast() {
            if case .failure(let error) = queued {
                // EXEC answers EXECABORT in that case; report the command's own error.
                throw error
            }
        }
        switch exec {
        case .failure(let error):
            throw error
        case .success(let token):
            guard case .array(let replies) = token.value else {
                throw RedisClientError(.unexpectedReply, "transaction aborted (EXEC returned \(token))")
            }
            return replies.map { reply in reply.errorReply.map { .failure($0) } ?? .success(reply) }
        }
    }

    /// Runs `body` with a connection that no other caller uses meanwhile (for `WATCH`, blocking
    /// commands, or anything that changes connection state). The body must leave the connection
    /// as it found it (no open `MULTI`, no `WATCH`); a body that throws gets its connection closed.
    ///
    /// In a cluster the connection goes to any master; use ``withDedicatedConnection(forKey:_:)``
    /// to reach the master of a key.
    public func withDedicatedConnection<T: Sendable>(
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        switch backend {
        case .single(let pool, _):
            return try await withDedicatedConnection(pool: pool, body)
        case .cluster(let router):
            return try await withDedicatedConnection(pool: try await router.pool(forKey: nil), body)
        }
    }

    /// Like ``withDedicatedConnection(_:)``, on the node serving `key` in a cluster (the only
    /// server otherwise). The slot map is read once: a `MOVED` inside `body` is not followed.
    public func withDedicatedConnection<T: Sendable>(
        forKey key: String,
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        switch backend {
        case .single(let pool, _):
            return try await withDedicatedConnection(pool: pool, body)
        case .cluster(let router):
            return try await withDedicatedConnection(pool: try await router.pool(forKey: key), body)
        }
    }

    private func withDedicatedConnection<T: Sendable>(
        pool: RedisConnectionPool,
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        let connection = try await pool.dedicatedConnection()
        do {
            let result = try await body(connection)
            await pool.release(connection, reusable: true)
            return result
        } catch {
            await pool.release(connection, reusable: false)
            throw error
        }
    }

    /// A connection for a subscription: to the server (the current master with Sentinel), or to
    /// any node of a cluster.
    func openSubscriptionConnection() async throws -> RedisConnection {
        switch backend {
        case .single(let pool, _): try await pool.openConnection()
        case .cluster(let router): try await router.openSubscriptionConnection()
        }
    }

    /// Closes every connection (and stops the Sentinel watcher, which runs until then: always close
    /// a client). Commands in flight fail with `.connectionClosed`; later ones with `.poolClosed`.
    public func close() async {
        switch backend {
        case .single(let pool, let sentinel):
            await sentinel?.close()
            await pool.close()
        case .cluster(let router):
            await router.close()
        }
    }
}

extension RedisClientError {
    static let notSentMessage = "connection is not open"

    /// The command was refused before it was written, so it cannot have run.
    var wasNotSent: Bool { code == .connectionClosed && message == Self.notSentMessage }
}
