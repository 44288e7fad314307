public import Foundation
public import Logging

extension AsynqScheduler {
    /// What to do about occurrences that passed while no scheduler was running.
    public enum MisfirePolicy: Sendable, Hashable {
        /// Forget them; the next occurrence after the start is the first one enqueued (Go asynq).
        case skip
        /// When an entry starts being scheduled, enqueue its most recent missed occurrence
        /// once (not one task per missed occurrence). "Missed" is judged against the entry's
        /// coordination record in Redis, so it needs ``ReplicaCoordination/claimEachOccurrence``
        /// and only covers time after some scheduler first ran the entry.
        case runLatest
    }

    /// How schedulers running the same entries (replicas) avoid enqueueing an occurrence twice.
    public enum ReplicaCoordination: Sendable, Hashable {
        /// Each occurrence is claimed in Redis before it is enqueued; only the scheduler whose
        /// claim succeeds enqueues it (see `docs/PERIODIC_TASKS.md`). `@every` schedules run on
        /// a fixed grid of Unix time (multiples of the interval) so replicas agree on the
        /// occurrences.
        case claimEachOccurrence
        /// No coordination, exactly as Go asynq: every scheduler enqueues every occurrence of
        /// its entries, and `@every d` counts from when the scheduler started. Writes nothing but
        /// Go's own keys.
        case disabled
    }

    /// Scheduler settings (Go's `SchedulerOpts` plus replica coordination and misfire policy).
    public struct Configuration: Sendable {
        /// How often the entries are written to Redis for `asynq cron ls` and the web UI; they
        /// expire after twice this. Zero or negative means the default, 10 s.
        public var heartbeatInterval: Duration
        /// The zone cron specs are evaluated in unless they start with `TZ=`/`CRON_TZ=`.
        public var timeZone: TimeZone
        /// Called before each enqueue with the task and the register options.
        public var preEnqueue: (@Sendable (AsynqTask, [TaskOption]) async -> Void)?
        /// Called after each enqueue attempt with its result or error.
        public var postEnqueue: (@Sendable (TaskInfo?, (any Error)?) async -> Void)?
        public var misfirePolicy: MisfirePolicy
        public var replicaCoordination: ReplicaCoordination
        public var logger: Logger

        public init(
            heartbeatInterval: Duration = .seconds(10),
            timeZone: TimeZone = .gmt,
            preEnqueue: (@Sendable (AsynqTask, [TaskOption]) async -> Void)? = nil,
            postEnqueue: (@Sendable (TaskInfo?, (any Error)?) async -> Void)? = nil,
            misfirePolicy: MisfirePolicy = .skip,
            replicaCoordination: ReplicaCoordination = .claimEachOccurrence,
            logger: Logger = Logger(label: "asynq.scheduler")
        ) {
            self.heartbeatInterval = heartbeatInterval
            self.timeZone = timeZone
            self.preEnqueue = preEnqueue
            self.postEnqueue = postEnqueue
            self.misfirePolicy = misfirePolicy
            self.replicaCoordination = replicaCoordination
            self.logger = logger
        }

        static let defaultHeartbeatInterval: Duration = .seconds(10)

        /// Defaults applied; throws `.invalidArgument` for `runLatest` without coordination.
        func normalized() throws(AsynqError) -> Configuration {
            var config = self
            if config.heartbeatInterval <= .zero { config.heartbeatInterval = Self.defaultHeartbeatInterval }
            if config.misfirePolicy == .runLatest && config.replicaCoordination == .disabled {
                throw AsynqError.invalid(
                    "asynq: the runLatest misfire policy needs replica coordination (claimEachOccurrence)")
            }
            return config
        }
    }
}
