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
public final class RedisClient: Sendable {
    public let options: RedisConnectionOptions
    public let logger: Logger
    let pool: RedisConnectionPool

    /// Creates a client; no connection is opened until the first command.
    public init(
        options: RedisConnectionOptions,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "AsynqRedis")
    ) throws {
        self.options = options
        self.logger = logger
        let tlsContext = try options.tls.map { try TLSContextCache.makeContext($0) }
        let provider: RedisConnectionPool.AddressProvider
        switch options.topology {
        case .standalone(let address):
            provider = { address }
        case .sentinel:
            throw RedisClientError(
                .invalidConfiguration,
                "Redis Sentinel is not supported by this version of the client yet"
            )
        case .cluster:
            throw RedisClientError(
                .invalidConfiguration,
                "Redis Cluster is not supported by this version of the client yet"
            )
        }
        self.pool = RedisConnectionPool(
            options: options,
            tlsContext: tlsContext,
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            addressProvider: provider
        )
    }

    /// Creates a client from an asynq-style URI (`redis://`, `rediss://`, `redis-socket://`, `redis-sentinel://`).
    public convenience init(
        uri: String,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "AsynqRedis")
    ) throws {
        try self.init(options: RedisConnectionOptions(uri: uri), eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// Sends a command on a shared connection and returns its reply; error replies are thrown.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RESPToken {
        if command.blockingTimeout != nil {
            return try await withDedicatedConnection { try await $0.send(command) }
        }
        let connection = try await pool.sharedConnection()
        do {
            return try await connection.send(command)
        } catch let error as RedisClientError where error.wasNotSent {
            // The connection died before the command was written: safe to use another one.
            return try await pool.sharedConnection().send(command)
        }
    }

    /// Sends commands in one write on one connection; one result per command, in order.
    /// Not atomic: other clients' commands may run between them (use ``transaction(_:)``).
    public func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>] {
        let connection = try await pool.sharedConnection()
        do {
            return try await connection.pipeline(commands)
        } catch let error as RedisClientError where error.wasNotSent {
            return try await pool.sharedConnection().pipeline(commands)
        }
    }

    /// Runs commands atomically with `MULTI`/`EXEC`, written together in one flush so no other
    /// command on the shared connection can fall between them. Returns the result of each
    /// command; throws if the transaction was aborted (`EXECABORT`) or a command was refused
    /// when queued.
    public func transaction(_ commands: [RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>] {
        try await Self.transaction(commands) { try await self.pipeline($0) }
    }

    static func transaction(
        _ commands: [RedisCommand],
        pipeline: ([RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>]
    ) async throws -> [Result<RESPToken, RedisClientError>] {
        let results = try await pipeline([RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")])
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
    public func withDedicatedConnection<T: Sendable>(
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

    /// Closes every connection. Commands in flight fail with `.connectionClosed`; later ones with `.poolClosed`.
    public func close() async {
        await pool.close()
    }
}

extension RedisClientError {
    static let notSentMessage = "connection is not open"

    /// The command was refused before it was written, so it cannot have run.
    var wasNotSent: Bool { code == .connectionClosed && message == Self.notSentMessage }
}
