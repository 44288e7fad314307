public import Foundation

/// A periodic task registered with a running scheduler (Go or Swift).
public struct SchedulerEntry: Sendable, Hashable {
    /// The entry ID (random per registration).
    public var id: String
    /// The cron spec exactly as registered.
    public var spec: String
    /// The task's type and payload (its options are in ``options``).
    public var task: AsynqTask
    /// The options given at registration, parsed back from their stored `Name(arg)` strings.
    /// Strings Go's inspector cannot parse are left out, as Go does: `TaskID(…)` and `Group(…)`
    /// are never parsed back, nor is anything malformed.
    public var options: [TaskOption]
    /// When the task is enqueued next; nil when the schedule never fires again.
    public var next: Date?
    /// When the task was last enqueued; nil when it never was.
    public var prev: Date?

    public init(id: String, spec: String, task: AsynqTask, options: [TaskOption], next: Date?, prev: Date?) {
        self.id = id
        self.spec = spec
        self.task = task
        self.options = options
        self.next = next
        self.prev = prev
    }

    init(_ entry: Asynq_SchedulerEntry) {
        self.init(
            id: entry.id,
            spec: entry.spec,
            task: AsynqTask(type: entry.taskType, payload: entry.taskPayload.isEmpty ? nil : entry.taskPayload),
            options: entry.enqueueOptions.compactMap(TaskOption.init(optionString:)),
            next: InspectorTimestamps.optionalDate(entry.nextEnqueueTime),
            prev: InspectorTimestamps.optionalDate(entry.prevEnqueueTime)
        )
    }
}

/// One enqueue of a scheduler entry's task.
public struct SchedulerEnqueueEvent: Sendable, Hashable {
    /// ID of the task that was enqueued.
    public var taskID: String
    /// When the scheduler enqueued it.
    public var enqueuedAt: Date

    public init(taskID: String, enqueuedAt: Date) {
        self.taskID = taskID
        self.enqueuedAt = enqueuedAt
    }

    init(_ event: Asynq_SchedulerEnqueueEvent) {
        self.init(taskID: event.taskID, enqueuedAt: InspectorTimestamps.date(event.enqueueTime))
    }
}
