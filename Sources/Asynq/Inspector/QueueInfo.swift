public import Foundation

/// A snapshot of one queue, as Go asynq's `Inspector.GetQueueInfo` reports it.
public struct QueueInfo: Sendable, Hashable {
    /// Name of the queue.
    public var queue: String
    /// Approximate bytes used by the queue's keys and task hashes (estimated by sampling).
    public var memoryUsage: Int64
    /// How long the next task to be processed has been pending (zero when nothing is pending,
    /// or when that task became pending through a requeue or an inspector run, which record no
    /// pending time).
    public var latency: Duration
    /// Every task of the queue: pending + active + scheduled + retry + archived + completed +
    /// aggregating (Go's code counts completed tasks although its doc comment omits them).
    public var size: Int
    /// Number of aggregation groups.
    public var groups: Int
    public var pending: Int
    public var active: Int
    public var scheduled: Int
    public var retry: Int
    public var archived: Int
    /// Completed tasks kept for their retention period.
    public var completed: Int
    public var aggregating: Int
    /// Tasks processed today (UTC), successes and failures.
    public var processed: Int
    /// Tasks that failed today (UTC).
    public var failed: Int
    /// Tasks processed since the counters started (or last wrapped).
    public var processedTotal: Int
    /// Tasks failed since the counters started (or last wrapped).
    public var failedTotal: Int
    /// Whether workers skip this queue.
    public var paused: Bool
    /// When the snapshot was taken.
    public var timestamp: Date

    public init(
        queue: String,
        memoryUsage: Int64 = 0,
        latency: Duration = .zero,
        size: Int = 0,
        groups: Int = 0,
        pending: Int = 0,
        active: Int = 0,
        scheduled: Int = 0,
        retry: Int = 0,
        archived: Int = 0,
        completed: Int = 0,
        aggregating: Int = 0,
        processed: Int = 0,
        failed: Int = 0,
        processedTotal: Int = 0,
        failedTotal: Int = 0,
        paused: Bool = false,
        timestamp: Date
    ) {
        self.queue = queue
        self.memoryUsage = memoryUsage
        self.latency = latency
        self.size = size
        self.groups = groups
        self.pending = pending
        self.active = active
        self.scheduled = scheduled
        self.retry = retry
        self.archived = archived
        self.completed = completed
        self.aggregating = aggregating
        self.processed = processed
        self.failed = failed
        self.processedTotal = processedTotal
        self.failedTotal = failedTotal
        self.paused = paused
        self.timestamp = timestamp
    }
}

/// Processed and failed counts of one queue on one UTC day.
public struct DailyStats: Sendable, Hashable {
    public var queue: String
    /// Tasks processed that day, successes and failures.
    public var processed: Int
    /// Tasks that failed that day.
    public var failed: Int
    /// A time on that day: the query time minus whole days (not midnight), as Go reports it.
    public var date: Date

    public init(queue: String, processed: Int, failed: Int, date: Date) {
        self.queue = queue
        self.processed = processed
        self.failed = failed
        self.date = date
    }
}

/// An aggregation group and the number of tasks waiting in it.
public struct GroupInfo: Sendable, Hashable {
    public var group: String
    public var size: Int

    public init(group: String, size: Int) {
        self.group = group
        self.size = size
    }
}
