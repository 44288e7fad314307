public import Foundation
public import Logging

extension AsynqServer {
    /// How a server works; every field of Go's `asynq.Config` (`server.md` §2) with the same
    /// defaults. Out-of-range values are normalised the way Go does when the server is created.
    public struct Configuration: Sendable {
        /// Most tasks processed at the same time. ≤ 0 → the number of active processors.
        public var concurrency: Int

        /// Queue names and their priorities. Entries with a blank name or a priority ≤ 0 are
        /// dropped; empty → `["default": 1]`.
        public var queues: [String: Int]

        /// Always take tasks from the highest-priority non-empty queue first. When false
        /// (default), a queue is tried first with probability priority / Σ priorities.
        public var strictPriority: Bool

        /// How long an idle processor waits before polling again (each wait is
        /// `interval/2 + random[0, interval)`). Tasks enqueued by Swift clients wake idle
        /// processors at once; the poll finds tasks written by Go clients. ≤ 0 → 1 s.
        public var taskCheckInterval: Duration

        /// The delay before retry number `n + 1`, given the number of earlier retries `n`, the
        /// error and the task. Default: ``AsynqServer/defaultRetryDelay(_:_:_:)``.
        public var retryDelay: @Sendable (_ retried: Int, _ error: any Error, _ task: AsynqTask) -> Duration

        /// Whether an error counts as a failure. When false the task is retried without
        /// increasing its retry count or the failure statistics. Default: every error.
        public var isFailure: @Sendable (any Error) -> Bool

        /// Called for every failed attempt (also `skipRetry` and `revokeTask`) before the task is
        /// retried, archived or dropped. The task has no result writer.
        public var errorHandler: (@Sendable (AsynqTask, TaskContext, any Error) async -> Void)?

        /// The server's logger; task logs carry the task's metadata.
        public var logger: Logger

        /// How long a graceful shutdown waits for running tasks before putting them back into
        /// their queues. ≤ 0 → 8 s.
        public var shutdownTimeout: Duration

        /// Called every ``healthCheckInterval`` with the result of a `PING` (nil when healthy).
        public var healthCheck: (@Sendable ((any Error)?) async -> Void)?

        /// ≤ 0 → 15 s.
        public var healthCheckInterval: Duration

        /// How often due scheduled and retry tasks are moved to pending. ≤ 0 → 5 s.
        public var delayedTaskCheckInterval: Duration

        /// A group is aggregated when no task was added to it for this long. 0 → 1 min; less
        /// than 1 s is refused.
        public var groupGracePeriod: Duration

        /// A group is aggregated when its oldest task waited this long. ≤ 0 → no limit.
        public var groupMaxDelay: Duration

        /// A group is aggregated when it holds this many tasks. ≤ 0 → no limit.
        public var groupMaxSize: Int

        /// Combines grouped tasks. Nil disables aggregation (grouped tasks accumulate).
        public var groupAggregator: (any GroupAggregator)?

        /// How often completed tasks whose retention ended are deleted. ≤ 0 → 8 s.
        public var janitorInterval: Duration

        /// Completed tasks deleted per script call. ≤ 0 → 100 (more than 100 logs a warning).
        public var janitorBatchSize: Int

        /// The wall clock for everything stored in Redis (lease, retry and completion times).
        /// Tests replace it; intervals and timeouts still use the real monotonic clock.
        package var now: @Sendable () -> Date

        // Fixed in Go asynq; adjustable here for tests only (a crash-recovery test cannot wait
        // the two minutes Go's values take). Keep heartbeatInterval well below leaseDuration.

        /// How long a dequeued task is leased (Go: 30 s), in whole seconds (≥ 1 s): the lease
        /// score is `now + leaseDuration` in Unix seconds; each heartbeat extends it.
        package var leaseDuration: Duration
        /// How often the heartbeat is written (Go: 5 s); server and worker keys live twice as long.
        package var heartbeatInterval: Duration
        /// How often the recoverer looks for lease-expired tasks (Go: 1 min).
        package var recoveryInterval: Duration
        /// How long after its lease expired a task counts as orphaned (Go: 30 s, for clock skew).
        package var leaseExpiryGrace: Duration
        /// Test hook: awaited by the processor before each dequeue (the compat replay dequeues
        /// at the instants Go did). Must return when the calling task is cancelled.
        package var beforeDequeue: (@Sendable () async -> Void)?

        public init(
            concurrency: Int = ProcessInfo.processInfo.activeProcessorCount,
            queues: [String: Int] = ["default": 1],
            strictPriority: Bool = false,
            logger: Logger = Logger(label: "asynq.server")
        ) {
            self.concurrency = concurrency
            self.queues = queues
            self.strictPriority = strictPriority
            self.taskCheckInterval = .seconds(1)
            self.retryDelay = AsynqServer.defaultRetryDelay
            self.isFailure = { _ in true }
            self.errorHandler = nil
            self.logger = logger
            self.shutdownTimeout = .seconds(8)
            self.healthCheck = nil
            self.healthCheckInterval = .seconds(15)
            self.delayedTaskCheckInterval = .seconds(5)
            self.groupGracePeriod = .seconds(60)
            self.groupMaxDelay = .zero
            self.groupMaxSize = 0
            self.groupAggregator = nil
            self.janitorInterval = .seconds(8)
            self.janitorBatchSize = 100
            self.now = { Date() }
            self.leaseDuration = .seconds(RedisBroker.leaseDuration)
            self.heartbeatInterval = .seconds(5)
            self.recoveryInterval = .seconds(60)
            self.leaseExpiryGrace = .seconds(30)
            self.beforeDequeue = nil
        }

        /// The configuration with Go's normalisation applied.
        package func normalized() throws(AsynqError) -> Configuration {
            var config = self
            if config.concurrency <= 0 { config.concurrency = ProcessInfo.processInfo.activeProcessorCount }
            config.queues = config.queues.filter { name, priority in
                !name.allSatisfy(\.isWhitespace) && priority > 0
            }
            if config.queues.isEmpty { config.queues = ["default": 1] }
            if config.taskCheckInterval <= .zero { config.taskCheckInterval = .seconds(1) }
            if config.shutdownTimeout <= .zero { config.shutdownTimeout = .seconds(8) }
            if config.healthCheckInterval <= .zero { config.healthCheckInterval = .seconds(15) }
            if config.delayedTaskCheckInterval <= .zero { config.delayedTaskCheckInterval = .seconds(5) }
            if config.groupGracePeriod == .zero { config.groupGracePeriod = .seconds(60) }
            guard config.groupGracePeriod >= .seconds(1) else {
                throw AsynqError.invalid("GroupGracePeriod cannot be less than a second")
            }
            if config.groupMaxDelay < .zero { config.groupMaxDelay = .zero }
            if config.groupMaxSize < 0 { config.groupMaxSize = 0 }
            if config.janitorInterval <= .zero { config.janitorInterval = .seconds(8) }
            if config.janitorBatchSize <= 0 { config.janitorBatchSize = 100 }
            config.leaseDuration = .seconds(max(1, config.leaseDuration.components.seconds))
            if config.heartbeatInterval <= .zero { config.heartbeatInterval = .seconds(5) }
            if config.recoveryInterval <= .zero { config.recoveryInterval = .seconds(60) }
            if config.leaseExpiryGrace < .zero { config.leaseExpiryGrace = .seconds(30) }
            if config.janitorBatchSize > 100 {
                config.logger.warning(
                    "janitor batch size of \(config.janitorBatchSize) is greater than the recommended batch size of 100"
                )
            }
            return config
        }
    }

    /// Go's `DefaultRetryDelayFunc`: `n⁴ + 15 + R × (n + 1)` seconds with `R` uniform in
    /// `0…29` and `n` the number of earlier retries (15–44 s for the first retry, about 2.8 h
    /// for the eleventh).
    public static func defaultRetryDelay(_ retried: Int, _ error: any Error, _ task: AsynqTask) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return defaultRetryDelay(retried: retried, using: &generator)
    }

    package static func defaultRetryDelay(
        retried n: Int,
        using generator: inout some RandomNumberGenerator
    ) -> Duration {
        // Retry counts beyond 10 000 (≈ 3 × 10⁸ years of delay) are capped so the arithmetic
        // cannot overflow (Go's int arithmetic would wrap).
        let n = Int64(min(max(0, n), 10_000))
        let r = Int64.random(in: 0...29, using: &generator)
        return .seconds(n * n * n * n + 15 + r * (n + 1))
    }
}
