public import AsynqRedis
import Foundation
import Logging
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Processes tasks from Redis queues (Go's `asynq.Server`), wire-compatible with Go servers
/// sharing the same Redis.
///
/// ```swift
/// let router = TaskRouter()
/// router.handle("email:deliver") { task, context in … }
/// let server = try AsynqServer(
///     redis: .standalone(host: "127.0.0.1", port: 6379),
///     configuration: .init(concurrency: 20, queues: ["critical": 6, "default": 3, "low": 1]),
///     handler: router
/// )
/// try await server.runUntilSignalled()   // or add it to a ServiceGroup
/// ```
///
/// The server is a swift-service-lifecycle ``Service``: ``run()`` works until a **graceful
/// shutdown** (ServiceLifecycle's graceful shutdown, ``shutdown()``, or SIGTERM/SIGINT with
/// ``runUntilSignalled()``), which stops fetching, waits up to `shutdownTimeout` for running
/// tasks, puts unfinished ones back at the front of their queues, and removes the server's
/// heartbeat from Redis. **Cancelling** the task that runs ``run()`` is an abort instead: the
/// handlers are cancelled and nothing more is written to Redis (a cancelled task cannot talk to
/// Redis); the running tasks are recovered by any server once their leases expire.
///
/// A server runs once: after ``run()`` returned, create a new one.
public final class AsynqServer: Service, Sendable {
    /// The lifecycle states Go publishes in `ServerInfo.status`.
    enum LifecycleState: String, Sendable {
        case new, active, stopped, closed
    }

    /// This server instance's ID (a lowercase UUIDv4), as listed by the inspector.
    public let serverID: String

    private let runtime: ServerRuntime
    private let handler: any TaskHandler
    private let ownsConnection: Bool
    private let lifecycle = Mutex(LifecycleState.new)
    private let stopFetching = ServerEvent()
    private let shutdownRequested = ServerEvent()
    private let started = ServerEvent()
    private let finished = ServerEvent()
    private let subscriber: Subscriber
    let logger: Logger

    /// A server with its own Redis connections (closed when ``run()`` returns). Throws
    /// `.invalidArgument` for an invalid configuration (a group grace period under 1 s).
    public convenience init(
        redis options: RedisConnectionOptions,
        configuration: Configuration = Configuration(),
        handler: some TaskHandler
    ) throws {
        let configuration = try configuration.normalized()
        let redis = try RedisClient(options: options, logger: configuration.logger)
        self.init(redis: redis, ownsConnection: true, normalized: configuration, handler: handler)
    }

    /// A server sharing an existing Redis client (left open when ``run()`` returns).
    public convenience init(
        redis: RedisClient,
        configuration: Configuration = Configuration(),
        handler: some TaskHandler
    ) throws {
        self.init(redis: redis, ownsConnection: false, normalized: try configuration.normalized(), handler: handler)
    }

    /// A server whose handler is a closure.
    public convenience init(
        redis options: RedisConnectionOptions,
        configuration: Configuration = Configuration(),
        handler: @escaping @Sendable (AsynqTask, TaskContext) async throws -> Void
    ) throws {
        try self.init(redis: options, configuration: configuration, handler: TaskHandlerFunc(handler))
    }

    /// A server sharing an existing Redis client, whose handler is a closure.
    public convenience init(
        redis: RedisClient,
        configuration: Configuration = Configuration(),
        handler: @escaping @Sendable (AsynqTask, TaskContext) async throws -> Void
    ) throws {
        try self.init(redis: redis, configuration: configuration, handler: TaskHandlerFunc(handler))
    }

    private init(
        redis: RedisClient, ownsConnection: Bool, normalized configuration: Configuration, handler: any TaskHandler
    ) {
        let serverID = UUID().uuidString.lowercased()
        self.serverID = serverID
        let identity = ServerIdentity(host: ServerIdentity.localHostname, pid: Int(getpid()), serverID: serverID)
        let runtime = ServerRuntime(broker: RedisBroker(redis: redis), config: configuration, identity: identity)
        self.runtime = runtime
        self.handler = handler
        self.ownsConnection = ownsConnection
        self.subscriber = Subscriber(runtime: runtime)
        self.logger = runtime.logger
    }

    // MARK: - Lifecycle

    /// Processes tasks until a graceful shutdown completes (see the type's documentation).
    /// Throws `.serverRunning` when the server already runs, `.serverClosed` after it ran.
    public func run() async throws {
        try lifecycle.withLock { (state: inout LifecycleState) throws(AsynqError) in
            switch state {
            case .new: state = .active
            case .active: throw AsynqError(.serverRunning, "asynq: the server is already running")
            case .stopped:
                throw AsynqError(.serverRunning, "asynq: the server is in the stopped state. Waiting for shutdown.")
            case .closed: throw AsynqError.serverClosed
            }
        }
        started.fire()
        defer {
            lifecycle.withLock { $0 = .closed }
            finished.fire()
        }
        logger.info("Starting processing")
        await withGracefulShutdownHandler {
            await runComponents()
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        if ownsConnection { await runtime.broker.redis.close() }
        logger.info("Exiting")
    }

    /// Stops taking new tasks; running ones finish normally (Go's `Stop`, SIGTSTP). The server
    /// keeps its heartbeat (status `stopped`) until ``shutdown()``. Only acts on a running server.
    public func stop() {
        let stopped = lifecycle.withLock { state -> Bool in
            guard state == .active else { return false }
            state = .stopped
            return true
        }
        guard stopped else { return }
        logger.info("Stopping processor")
        stopFetchingNow()
    }

    /// Shuts the server down gracefully and returns when ``run()`` has finished. Does nothing
    /// for a server that never ran.
    public func shutdown() async {
        switch beginShutdown() {
        case .new: return
        case .active, .stopped, .closed: await finished.wait()
        }
    }

    /// Checks the connection to Redis (nothing is sent once the server has shut down).
    public func ping() async throws {
        if lifecycle.withLock({ $0 }) == .closed { return }
        do {
            try await runtime.broker.redis.ping()
        } catch {
            throw RedisBroker.map(error)
        }
    }

    /// Starts the graceful shutdown of a running server; returns the state it was in.
    @discardableResult
    private func beginShutdown() -> LifecycleState {
        let previous = lifecycle.withLock { state -> LifecycleState in
            let previous = state
            if state == .active || state == .stopped { state = .closed }
            return previous
        }
        if previous == .active || previous == .stopped { shutdownRequested.fire() }
        return previous
    }

    private func stopFetchingNow() {
        stopFetching.fire()
        runtime.slots.stop()
        runtime.wake.signal()
    }

    /// The components, as children of one task group, started in Go's order and stopped in
    /// Go's shutdown order (`server.md` §1).
    private func runComponents() async {
        let runtime = self.runtime
        let config = runtime.config
        let heartbeater = Heartbeater(runtime: runtime) { self.state }
        let processorShutdown = ServerEvent()
        let processor = Processor(
            runtime: runtime,
            handler: handler,
            stopFetching: stopFetching,
            shutdown: processorShutdown
        )
        let recoverer = Recoverer(runtime: runtime)
        let forwarder = Forwarder(runtime: runtime)
        let janitor = Janitor(runtime: runtime)
        let subscriber = self.subscriber

        await withDiscardingTaskGroup { group in
            func start(_ body: @escaping @Sendable (ServerEvent) async -> Void) -> ComponentControl {
                let control = ComponentControl()
                group.addTask {
                    await body(control.stop)
                    control.done.fire()
                }
                return control
            }
            let heartbeat = start { await heartbeater.run(stop: $0) }
            let health = config.healthCheck.map { check in
                start { await HealthChecker(runtime: runtime, check: check).run(stop: $0) }
            }
            let subscription = start { await subscriber.run(stop: $0) }
            let sync = start { await runtime.syncer.run(stop: $0) }
            let acks = start { _ in await runtime.ackWriter.run() }
            let recovery = start { await recoverer.run(stop: $0) }
            let forwarding = start { await forwarder.run(stop: $0) }
            let deadlines = start { await runtime.registry.watchDeadlines(stop: $0) }
            let processing = start { _ in await processor.run() }
            let cleaning = start { await janitor.run(stop: $0) }
            let aggregation = config.groupAggregator.map { aggregator in
                start { await Aggregator(runtime: runtime, aggregator: aggregator).run(stop: $0) }
            }

            await shutdownRequested.wait()
            logger.info("Starting graceful shutdown")
            await forwarding.stopAndWait()
            stopFetchingNow()
            processorShutdown.fire()
            await processing.done.wait()
            await deadlines.stopAndWait()
            runtime.ackWriter.finish()
            await acks.done.wait()
            await recovery.stopAndWait()
            await sync.stopAndWait()
            await subscription.stopAndWait()
            await cleaning.stopAndWait()
            await aggregation?.stopAndWait()
            await health?.stopAndWait()
            await heartbeat.stopAndWait()
        }
    }

    // MARK: - Test hooks

    /// The lifecycle state (`new`, `active`, `stopped`, `closed`).
    package var state: String { lifecycle.withLock { $0.rawValue } }

    /// Returns once ``run()`` has started.
    package func waitUntilStarted() async {
        await started.wait()
    }

    /// Returns once the server's subscription (cancellations, task notifications) is confirmed.
    package func waitUntilSubscribed() async {
        await subscriber.subscribed.wait()
    }

    /// Where this server publishes its heartbeat.
    package var identity: ServerIdentity { runtime.identity }

    /// Writes a heartbeat now (server and worker state, lease extensions) and returns once it
    /// is written; returns at once for a server that never ran or has finished.
    package func heartbeatNow() async {
        guard started.isFired else { return }
        await runtime.beatRequests.request()
    }
}

extension ServerIdentity {
    /// This machine's host name (Go's `os.Hostname()`), "localhost" when it cannot be read.
    package static var localHostname: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The stop and done events of one component.
private struct ComponentControl: Sendable {
    let stop = ServerEvent()
    let done = ServerEvent()

    func stopAndWait() async {
        stop.fire()
        await done.wait()
    }
}
