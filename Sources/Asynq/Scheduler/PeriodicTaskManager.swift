public import AsynqRedis
import Foundation
import Logging
public import ServiceLifecycle
import Synchronization

/// Supplies the periodic tasks a ``PeriodicTaskManager`` should run (Go's
/// `PeriodicTaskConfigProvider`). Called at start and then every sync interval, so it can read
/// a file, a database or a remote config service.
public protocol PeriodicTaskConfigProvider: Sendable {
    func configs() async throws -> [PeriodicTaskConfig]
}

/// One periodic task: a cron spec, the task, and the options to enqueue it with.
public struct PeriodicTaskConfig: Sendable, Hashable {
    public var cronspec: String
    public var task: AsynqTask
    /// Enqueue options (applied after the task's own options); shown in `asynq cron ls`.
    public var options: [TaskOption]

    public init(cronspec: String, task: AsynqTask, options: [TaskOption] = []) {
        self.cronspec = cronspec
        self.task = task
        self.options = options
    }

    /// The identity the manager diffs on, computed as Go asynq does: lowercase hex SHA-256 of the
    /// cronspec, the task type, the payload, then the string forms of ``options`` sorted. The
    /// task's own options and its headers are not part of it (as in Go), so changing only those
    /// does not re-register the entry.
    public var hash: String {
        var hasher = SHA256()
        hasher.update(cronspec)
        hasher.update(task.type)
        hasher.update(task.payload ?? Data())
        for option in options.map(\.description).sorted() { hasher.update(option) }
        return hasher.hexDigest()
    }
}

/// Keeps an ``AsynqScheduler``'s entries in line with what a ``PeriodicTaskConfigProvider``
/// returns (Go's `PeriodicTaskManager`): configs are loaded at start and re-read every
/// `syncInterval`; entries whose config disappeared are unregistered and new ones registered,
/// without a restart. A changed config is a different config (its ``PeriodicTaskConfig/hash``
/// changes): the old entry goes, the new one comes.
///
/// Errors: ``run()`` throws when the first load fails or returns an invalid config (empty
/// cronspec or task type), as Go's `Start` does. Later, a failing provider or an invalid config
/// is logged and that round is skipped, so the running entries keep running. A config the
/// scheduler refuses (a bad cron spec, bad options) is logged with its position, spec and type,
/// and the other configs are still applied.
///
/// ```swift
/// let manager = try PeriodicTaskManager(
///     redis: .standalone(host: "127.0.0.1", port: 6379),
///     provider: YAMLFileConfigProvider(path: "/etc/app/periodic.yaml"))
/// try await ServiceGroup(services: [manager], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
public final class PeriodicTaskManager: Service, Sendable {
    /// Manager settings (Go's `PeriodicTaskManagerOpts`).
    public struct Configuration: Sendable {
        /// The scheduler's settings.
        public var scheduler: AsynqScheduler.Configuration
        /// How often the provider is asked again; zero or negative means the default, 3 minutes.
        public var syncInterval: Duration

        public init(scheduler: AsynqScheduler.Configuration = .init(), syncInterval: Duration = .seconds(180)) {
            self.scheduler = scheduler
            self.syncInterval = syncInterval
        }
    }

    /// The scheduler that runs the entries.
    public let scheduler: AsynqScheduler

    private let provider: any PeriodicTaskConfigProvider
    private let syncInterval: Duration
    private let clock: any SchedulerClock
    private let redis: RedisClient
    private let ownsConnection: Bool
    private let logger: Logger
    /// Config hash → entry ID and config of what is registered.
    private let registered = Mutex<[String: (entryID: String, config: PeriodicTaskConfig)]>([:])
    private let lifecycle = Mutex(Lifecycle.new)
    private let stopSync = ServerEvent()
    private let finished = ServerEvent()

    private enum Lifecycle {
        case new, running, stopped
    }

    /// A manager with its own Redis connections (closed when ``run()`` returns).
    public convenience init(
        redis options: RedisConnectionOptions,
        provider: some PeriodicTaskConfigProvider,
        configuration: Configuration = Configuration()
    ) throws {
        let redis = try RedisClient(options: options, logger: configuration.scheduler.logger)
        try self.init(
            redis: redis, ownsConnection: true, provider: provider, configuration: configuration,
            clock: SystemSchedulerClock())
    }

    /// A manager sharing an existing Redis client (left open when ``run()`` returns).
    public convenience init(
        redis: RedisClient,
        provider: some PeriodicTaskConfigProvider,
        configuration: Configuration = Configuration()
    ) throws {
        try self.init(
            redis: redis, ownsConnection: false, provider: provider, configuration: configuration,
            clock: SystemSchedulerClock())
    }

    /// A manager on an injected clock (tests).
    package convenience init(
        redis: RedisClient,
        provider: any PeriodicTaskConfigProvider,
        configuration: Configuration,
        clock: any SchedulerClock
    ) throws {
        try self.init(
            redis: redis, ownsConnection: false, provider: provider, configuration: configuration, clock: clock)
    }

    private init(
        redis: RedisClient,
        ownsConnection: Bool,
        provider: any PeriodicTaskConfigProvider,
        configuration: Configuration,
        clock: any SchedulerClock
    ) throws {
        self.scheduler = try AsynqScheduler(redis: redis, configuration: configuration.scheduler, clock: clock)
        self.provider = provider
        self.syncInterval = configuration.syncInterval > .zero ? configuration.syncInterval : .seconds(180)
        self.clock = clock
        self.redis = redis
        self.ownsConnection = ownsConnection
        self.logger = configuration.scheduler.logger
    }

    /// Loads the configs, then runs the scheduler and the sync loop until a graceful shutdown
    /// (ServiceLifecycle's, or ``shutdown()``). Throws when the first load fails.
    public func run() async throws {
        try lifecycle.withLock { (state: inout Lifecycle) throws(AsynqError) in
            guard state == .new else {
                throw AsynqError(.invalidState, "asynq: the periodic task manager has already been started")
            }
            state = .running
        }
        defer {
            lifecycle.withLock { $0 = .stopped }
            finished.fire()
        }
        do {
            try await initialSync()
            if stopSync.isFired {
                if ownsConnection { await redis.close() }
                return
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.scheduler.run() }
                group.addTask { await self.syncLoop() }
                group.addTask {
                    // shutdown(): once the scheduler has started, shut it down gracefully.
                    await self.stopSync.wait()
                    await self.scheduler.waitUntilStarted()
                    await self.scheduler.shutdown()
                }
                // The sync loop only ends when told to, so the first child to end is the scheduler.
                defer { stopSync.fire() }
                try await group.next()
                stopSync.fire()
                try await group.waitForAll()
            }
        } catch {
            if ownsConnection { await redis.close() }
            throw error
        }
        if ownsConnection { await redis.close() }
    }

    /// Stops syncing, shuts the scheduler down gracefully and returns once ``run()`` finished.
    /// Does nothing for a manager that never ran.
    public func shutdown() async {
        guard lifecycle.withLock({ $0 }) != .new else { return }
        stopSync.fire()
        await finished.wait()
    }

    // MARK: - Syncing

    private func initialSync() async throws {
        let configs: [PeriodicTaskConfig]
        do {
            configs = try await provider.configs()
        } catch {
            throw AsynqError(
                .invalidArgument, "initial call to the periodic task config provider failed", underlying: error)
        }
        if let problem = Self.firstInvalid(configs) {
            throw AsynqError.invalid("initial periodic task configs contain an invalid config: \(problem)")
        }
        apply(configs)
    }

    private func syncLoop() async {
        var deadline = clock.now.addingTimeInterval(syncInterval.timeInterval)
        while await clock.sleep(until: deadline, unless: stopSync) {
            await sync()
            deadline = clock.now.addingTimeInterval(syncInterval.timeInterval)
        }
    }

    /// One sync round: skipped (and logged) when the provider fails or a config is invalid.
    private func sync() async {
        let configs: [PeriodicTaskConfig]
        do {
            configs = try await provider.configs()
        } catch {
            logger.error(
                "Periodic task config provider failed; keeping the current entries",
                metadata: ["error": "\(error)"])
            return
        }
        if let problem = Self.firstInvalid(configs) {
            logger.error(
                "Periodic task configs contain an invalid config; keeping the current entries",
                metadata: ["error": "\(problem)"])
            return
        }
        apply(configs)
    }

    /// Unregisters entries whose config is gone and registers new configs (diffed by hash).
    private func apply(_ configs: [PeriodicTaskConfig]) {
        var wanted: [String: (index: Int, config: PeriodicTaskConfig)] = [:]
        for (index, config) in configs.enumerated() where wanted[config.hash] == nil {
            wanted[config.hash] = (index, config)
        }
        let current = registered.withLock { $0 }
        for (hash, (entryID, config)) in current where wanted[hash] == nil {
            do {
                try scheduler.unregister(entryID)
            } catch {
                logger.error(
                    "Failed to unregister a periodic task", metadata: ["entry_id": "\(entryID)", "error": "\(error)"])
            }
            registered.withLock { _ = $0.removeValue(forKey: hash) }
            logger.info(
                "Removed a periodic task",
                metadata: [
                    "entry_id": "\(entryID)", "cronspec": "\(config.cronspec)", "task_type": "\(config.task.type)",
                ])
        }
        for (hash, item) in wanted.sorted(by: { $0.value.index < $1.value.index }) where current[hash] == nil {
            let config = item.config
            do {
                let entryID = try scheduler.register(config.cronspec, task: config.task, options: config.options)
                registered.withLock { $0[hash] = (entryID, config) }
                logger.info(
                    "Added a periodic task",
                    metadata: [
                        "entry_id": "\(entryID)", "cronspec": "\(config.cronspec)", "task_type": "\(config.task.type)",
                    ])
            } catch {
                logger.error(
                    "Failed to register periodic task config[\(item.index)] (cronspec \(GoFormat.quote(config.cronspec)), task \(GoFormat.quote(config.task.type))): \(error)"
                )
            }
        }
    }

    /// Go's validation: a cronspec and a task type are required.
    static func firstInvalid(_ configs: [PeriodicTaskConfig]) -> String? {
        for (index, config) in configs.enumerated() {
            if config.cronspec.trimmingCharacters(in: .whitespaces).isEmpty {
                return "config[\(index)]: cronspec cannot be empty"
            }
            if config.task.type.trimmingCharacters(in: .whitespaces).isEmpty {
                return "config[\(index)]: task type cannot be empty"
            }
        }
        return nil
    }

    // MARK: - Test hooks

    /// Config hash → entry ID of the registered configs.
    package var registeredEntries: [String: String] { registered.withLock { $0.mapValues(\.entryID) } }
}
