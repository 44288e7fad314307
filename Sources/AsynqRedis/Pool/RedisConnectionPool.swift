import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Connections to one Redis server (or to whatever server an address provider names, for
/// Sentinel).
///
/// Shared connections are multiplexed: a caller takes the connection with the fewest commands
/// in flight, and the pool opens another (up to `maxConnections`) only when every connection
/// has `pipeliningThreshold` commands waiting. Connections are opened lazily, dropped as soon
/// as they close, and idle ones beyond the first are closed after `idleTimeout`. When connecting
/// fails the pool waits with capped exponential backoff and jitter before the next attempt;
/// callers wait for that attempt (up to their command timeout) instead of failing at once, so a
/// Redis restart looks like a pause. Dedicated connections (blocking commands, `WATCH`,
/// subscriptions) are handed out exclusively and kept in a small idle cache when returned clean.
final class RedisConnectionPool: Sendable {
    typealias AddressProvider = @Sendable () async throws -> RedisServerAddress

    private struct State {
        var shared: [RedisConnection] = []
        var lastUsed: [ObjectIdentifier: ContinuousClock.Instant] = [:]
        var idleDedicated: [RedisConnection] = []
        var connecting = 0
        var waiters: [UInt64: CheckedContinuation<RedisConnection, any Error>] = [:]
        var nextWaiterID: UInt64 = 0
        var closed = false
        var consecutiveFailures = 0
        var lastFailure: RedisClientError?
        var retryAfter: ContinuousClock.Instant?
        var lastIdleSweep: ContinuousClock.Instant
    }

    private enum Acquisition {
        case use(RedisConnection)
        case connect(fallback: RedisConnection?)
        case wait
        case fail(RedisClientError)
    }

    let options: RedisConnectionOptions
    let tlsContext: NIOSSLContext?
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let addressProvider: AddressProvider
    private let state: Mutex<State>
    private let clock = ContinuousClock()

    /// Idle dedicated connections kept for reuse.
    private static let dedicatedCacheSize = 4

    init(
        options: RedisConnectionOptions,
        tlsContext: NIOSSLContext?,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        addressProvider: @escaping AddressProvider
    ) {
        self.options = options
        self.tlsContext = tlsContext
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.addressProvider = addressProvider
        self.state = Mutex(State(lastIdleSweep: ContinuousClock().now))
    }

    // MARK: Shared connections

    /// A connection to send on, shared with other callers.
    func sharedConnection() async throws -> RedisConnection {
        let now = clock.now
        let decision: Acquisition = state.withLock { state in
            if state.closed { return .fail(RedisClientError(.poolClosed, "the Redis client was closed")) }
            state.shared.removeAll { !$0.isActive }
            var best: RedisConnection?
            var bestLoad = Int.max
            for connection in state.shared {
                let load = connection.inFlight.load(ordering: .relaxed)
                if load < bestLoad {
                    best = connection
                    bestLoad = load
                }
            }
            let capacityLeft = state.shared.count + state.connecting < options.maxConnections
            if let best {
                state.lastUsed[ObjectIdentifier(best)] = now
                if bestLoad < options.pipeliningThreshold || !capacityLeft || state.retryAfter.map({ $0 > now }) == true
                {
                    return .use(best)
                }
                state.connecting += 1
                return .connect(fallback: best)
            }
            if state.connecting > 0 { return .wait }
            state.connecting += 1
            return .connect(fallback: nil)
        }
        sweepIdleConnections(now: now)

        switch decision {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .wait:
            return try await waitForConnection()
        case .connect(let fallback):
            do {
                let connection = try await openConnection()
                let waiters = state.withLock { state -> [CheckedContinuation<RedisConnection, any Error>] in
                    state.connecting -= 1
                    if state.closed { return [] }
                    state.shared.append(connection)
                    state.lastUsed[ObjectIdentifier(connection)] = clock.now
                    let waiters = Array(state.waiters.values)
                    state.waiters.removeAll()
                    return waiters
                }
                for waiter in waiters { waiter.resume(returning: connection) }
                connection.whenClosed { [weak self] _ in self?.remove(connection) }
                return connection
            } catch {
                let waiters = state.withLock { state -> [CheckedContinuation<RedisConnection, any Error>] in
                    state.connecting -= 1
                    let waiters = Array(state.waiters.values)
                    state.waiters.removeAll()
                    return waiters
                }
                for waiter in waiters { waiter.resume(throwing: error) }
                if let fallback, fallback.isActive { return fallback }
                throw error
            }
        }
    }

    private func waitForConnection() async throws -> RedisConnection {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let registered = state.withLock { state -> Bool in
                    guard state.connecting > 0, !state.closed else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                if !registered {
                    continuation.resume(throwing: RedisClientError(.connectionFailed, "no connection available"))
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: RedisClientError(.cancelled, "the request was cancelled"))
        }
    }

    private func remove(_ connection: RedisConnection) {
        state.withLock { state in
            state.shared.removeAll { $0 === connection }
            state.idleDedicated.removeAll { $0 === connection }
            state.lastUsed[ObjectIdentifier(connection)] = nil
        }
    }

    /// Closes shared connections beyond the first that were not used for `idleTimeout`.
    private func sweepIdleConnections(now: ContinuousClock.Instant) {
        let idle: [RedisConnection] = state.withLock { state in
            guard now - state.lastIdleSweep > options.idleTimeout / 4 else { return [] }
            state.lastIdleSweep = now
            var victims: [RedisConnection] = []
            for connection in state.shared.dropFirst()
            where connection.inFlight.load(ordering: .relaxed) == 0
                && now - (state.lastUsed[ObjectIdentifier(connection)] ?? now) > options.idleTimeout
            {
                victims.append(connection)
            }
            state.shared.removeAll { connection in victims.contains { $0 === connection } }
            return victims
        }
        for connection in idle {
            connection.onLoop {
                connection.handler.value.close(with: RedisClientError(.connectionClosed, "idle connection closed"))
            }
        }
    }

    // MARK: Dedicated connections

    /// A connection nobody else uses until it is given back with `release(_:reusable:)`.
    func dedicatedConnection() async throws -> RedisConnection {
        let cached: RedisConnection? = try state.withLock { state in
            if state.closed { throw RedisClientError(.poolClosed, "the Redis client was closed") }
            while let connection = state.idleDedicated.popLast() {
                if connection.isActive { return connection }
            }
            return nil
        }
        if let cached { return cached }
        let connection = try await openConnection()
        connection.whenClosed { [weak self] _ in self?.remove(connection) }
        return connection
    }

    /// Gives a dedicated connection back; it is cached for reuse when `reusable` and clean.
    func release(_ connection: RedisConnection, reusable: Bool) async {
        let keep =
            reusable && connection.isActive && connection.inFlight.load(ordering: .relaxed) == 0
            && state.withLock { state -> Bool in
                guard !state.closed, state.idleDedicated.count < Self.dedicatedCacheSize else { return false }
                state.idleDedicated.append(connection)
                return true
            }
        if !keep { await connection.close() }
    }

    // MARK: Connecting with backoff

    /// Opens a new connection, first waiting out the backoff after recent failures.
    func openConnection() async throws -> RedisConnection {
        let (retryAfter, lastFailure) = state.withLock { ($0.retryAfter, $0.lastFailure) }
        if let retryAfter, retryAfter > clock.now {
            if let limit = options.commandTimeout, retryAfter - clock.now > limit, let lastFailure {
                throw lastFailure
            }
            do {
                try await Task.sleep(until: retryAfter, clock: clock)
            } catch {
                throw RedisClientError(.cancelled, "the request was cancelled")
            }
        }
        do {
            let address = try await addressProvider()
            let connection = try await RedisConnection.connect(
                to: address,
                options: options,
                tlsContext: tlsContext,
                eventLoop: eventLoopGroup.any(),
                logger: logger
            )
            state.withLock { state in
                state.consecutiveFailures = 0
                state.retryAfter = nil
                state.lastFailure = nil
            }
            return connection
        } catch {
            let failure =
                (error as? RedisClientError) ?? RedisClientError(.connectionFailed, "could not connect: \(error)")
            // Wrong credentials or configuration do not get better by retrying quickly, but
            // they are still retried with backoff: an operator may fix the server.
            let delay = state.withLock { state -> Duration in
                state.consecutiveFailures += 1
                let delay = Self.backoff(
                    attempt: state.consecutiveFailures,
                    initial: options.reconnectBackoff.initial,
                    maximum: options.reconnectBackoff.maximum
                )
                state.retryAfter = clock.now + delay
                state.lastFailure = failure
                return delay
            }
            logger.warning(
                "Redis connection failed",
                metadata: ["error": "\(failure.message)", "redis.retry_in": "\(delay)"]
            )
            throw failure
        }
    }

    /// Capped exponential backoff with full jitter between half and all of the step.
    static func backoff(attempt: Int, initial: Duration, maximum: Duration) -> Duration {
        let exponent = min(max(attempt - 1, 0), 20)
        let step = min(initial * (1 << exponent), maximum)
        let jitter = Double.random(in: 0.5...1.0)
        return step * jitter
    }

    // MARK: Shutdown

    func close() async {
        let (connections, waiters) = state.withLock { state in
            state.closed = true
            let connections = state.shared + state.idleDedicated
            state.shared.removeAll()
            state.idleDedicated.removeAll()
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return (connections, waiters)
        }
        for waiter in waiters { waiter.resume(throwing: RedisClientError(.poolClosed, "the Redis client was closed")) }
        for connection in connections { await connection.close() }
    }
}
