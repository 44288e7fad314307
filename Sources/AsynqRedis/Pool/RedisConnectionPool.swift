import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Connections to one Redis server (or to whatever server the connector reaches: for Sentinel,
/// the current master).
///
/// Shared connections are multiplexed: a caller takes the connection with the fewest commands
/// in flight, and the pool opens another (up to `maxConnections`) only when every connection
/// has `pipeliningThreshold` commands waiting. Connections are opened lazily, dropped as soon
/// as they close, and idle ones beyond the first are closed after `idleTimeout`. When connecting
/// fails the pool waits with capped exponential backoff and jitter before the next attempt;
/// callers wait for that attempt (up to their command timeout) instead of failing at once, so a
/// Redis restart looks like a pause. Dedicated connections (blocking commands, `WATCH`,
/// subscriptions) are handed out exclusively and kept in a small idle cache when returned clean.
///
/// Every connection the pool opened (shared, dedicated, subscription) is tracked until it closes,
/// so ``closeConnections(where:)`` can drop the ones to a server that is no longer the right one
/// (a Sentinel failover) and the next command connects afresh.
final class RedisConnectionPool: Sendable {
    typealias AddressProvider = @Sendable () async throws -> RedisServerAddress
    /// Opens a connection (connected, authenticated) on the given event loop.
    typealias Connector = @Sendable (_ eventLoop: any EventLoop) async throws -> RedisConnection

    private struct State {
        var shared: [RedisConnection] = []
        var lastUsed: [ObjectIdentifier: ContinuousClock.Instant] = [:]
        var idleDedicated: [RedisConnection] = []
        /// Every open connection made by the pool, whoever uses it.
        var open: [ObjectIdentifier: RedisConnection] = [:]
        /// Callers waiting out the reconnection backoff, woken early by `resetBackoff()`.
        var backoffWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
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
    private let connector: Connector
    private let state: Mutex<State>
    private let clock = ContinuousClock()
    /// How often idle connections are looked for (a quarter of `idleTimeout`).
    private let sweepInterval: Duration

    /// Idle dedicated connections kept for reuse.
    private static let dedicatedCacheSize = 4

    /// A pool whose connections go to the address `addressProvider` names when each is opened.
    convenience init(
        options: RedisConnectionOptions,
        tlsContext: NIOSSLContext?,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        addressProvider: @escaping AddressProvider
    ) {
        self.init(
            options: options,
            tlsContext: tlsContext,
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            connector: { eventLoop in
                try await RedisConnection.connect(
                    to: addressProvider(),
                    options: options,
                    tlsContext: tlsContext,
                    eventLoop: eventLoop,
                    logger: logger
                )
            }
        )
    }

    /// A pool whose connections are opened by `connector`.
    init(
        options: RedisConnectionOptions,
        tlsContext: NIOSSLContext?,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        connector: @escaping Connector
    ) {
        self.options = options
        self.tlsContext = tlsContext
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.connector = connector
        self.state = Mutex(State(lastIdleSweep: ContinuousClock().now))
        self.sweepInterval = options.idleTimeout / 4
    }

    // MARK: Shared connections

    /// A connection to send on, shared with other callers.
    func sharedConnection() async throws -> RedisConnection {
        let now = clock.now
        // The hot path: one critical section, no allocation. Closed connections are skipped
        // here and dropped by their `whenClosed` callback (`remove(_:)`); the last use is only
        // recorded where the idle sweep looks at it (every connection but the first).
        let (decision, sweepDue): (Acquisition, Bool) = state.withLock { state in
            if state.closed { return (.fail(RedisClientError(.poolClosed, "the Redis client was closed")), false) }
            var best: RedisConnection?
            var bestIndex = 0
            var bestLoad = Int.max
            var active = 0
            for index in state.shared.indices {
                let connection = state.shared[index]
                guard connection.isActive else { continue }
                active += 1
                let load = connection.inFlight.load(ordering: .relaxed)
                if load < bestLoad {
                    best = connection
                    bestIndex = index
                    bestLoad = load
                }
            }
            if active < state.shared.count { state.shared.removeAll { !$0.isActive } }
            let sweepDue = now - state.lastIdleSweep > sweepInterval
            let capacityLeft = state.shared.count + state.connecting < options.maxConnections
            if let best {
                if bestIndex > 0 { state.lastUsed[ObjectIdentifier(best)] = now }
                if bestLoad < options.pipeliningThreshold || !capacityLeft || state.retryAfter.map({ $0 > now }) == true
                {
                    return (.use(best), sweepDue)
                }
                state.connecting += 1
                return (.connect(fallback: best), sweepDue)
            }
            if state.connecting > 0 { return (.wait, sweepDue) }
            state.connecting += 1
            return (.connect(fallback: nil), sweepDue)
        }
        if sweepDue { sweepIdleConnections(now: now) }

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
            state.open[ObjectIdentifier(connection)] = nil
        }
    }

    /// Closes every open connection `predicate` selects (shared, dedicated in use or idle,
    /// subscriptions) and forgets the reconnection backoff, so the next command connects at once.
    /// Requests in flight on those connections fail with `.connectionClosed`.
    func closeConnections(reason: String, where predicate: (RedisConnection) -> Bool) async {
        let victims = state.withLock { state -> [RedisConnection] in
            let victims = state.open.values.filter(predicate)
            for victim in victims {
                state.shared.removeAll { $0 === victim }
                state.idleDedicated.removeAll { $0 === victim }
            }
            return victims
        }
        resetBackoff()
        for connection in victims {
            connection.onLoop {
                connection.handler.value.close(with: RedisClientError(.connectionClosed, reason))
            }
        }
    }

    /// Forgets past connection failures: callers waiting out the backoff try again now.
    func resetBackoff() {
        let waiters = state.withLock { state in
            state.consecutiveFailures = 0
            state.retryAfter = nil
            state.lastFailure = nil
            let waiters = Array(state.backoffWaiters.values)
            state.backoffWaiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Closes shared connections beyond the first that were not used for `idleTimeout`.
    private func sweepIdleConnections(now: ContinuousClock.Instant) {
        let idle: [RedisConnection] = state.withLock { state in
            guard now - state.lastIdleSweep > sweepInterval else { return [] }
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
        return try await openConnection()
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
            try await waitOutBackoff(until: retryAfter)
            if state.withLock({ $0.closed }) { throw RedisClientError(.poolClosed, "the Redis client was closed") }
        }
        do {
            let connection = try await connector(eventLoopGroup.any())
            let closed = state.withLock { state in
                if !state.closed { state.open[ObjectIdentifier(connection)] = connection }
                return state.closed
            }
            // The server is reachable again: callers waiting out the backoff may go on.
            resetBackoff()
            if closed {
                await connection.close()
                throw RedisClientError(.poolClosed, "the Redis client was closed")
            }
            connection.whenClosed { [weak self] _ in self?.remove(connection) }
            return connection
        } catch let error as RedisClientError where error.code == .poolClosed || error.code == .cancelled {
            throw error
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

    /// Sleeps until `deadline`, or less if `resetBackoff()` is called meanwhile.
    private func waitOutBackoff(until deadline: ContinuousClock.Instant) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(until: deadline, clock: ContinuousClock()) }
            group.addTask { await self.waitForBackoffReset(id: id) }
            await group.next()
            group.cancelAll()
        }
        try Task.checkCancellation(orThrow: RedisClientError(.cancelled, "the request was cancelled"))
    }

    private func waitForBackoffReset(id: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if Task.isCancelled || state.closed || state.retryAfter == nil { return true }
                    state.backoffWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.backoffWaiters.removeValue(forKey: id) }?.resume()
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
        let (connections, waiters, sleepers) = state.withLock { state in
            state.closed = true
            let connections = state.shared + state.idleDedicated
            state.shared.removeAll()
            state.idleDedicated.removeAll()
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            let sleepers = Array(state.backoffWaiters.values)
            state.backoffWaiters.removeAll()
            return (connections, waiters, sleepers)
        }
        for waiter in waiters { waiter.resume(throwing: RedisClientError(.poolClosed, "the Redis client was closed")) }
        for sleeper in sleepers { sleeper.resume() }
        for connection in connections { await connection.close() }
    }
}
