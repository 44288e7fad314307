import Foundation

/// One registered cron entry: what to enqueue and when. Immutable once registered.
struct ScheduledEntry: Sendable {
    let id: String
    let schedule: CronSchedule
    let task: AsynqTask
    /// The options given at registration (applied after the task's own options).
    let options: [TaskOption]
    /// The queue the task goes to (the last queue option of the task's, then the register options).
    let queue: String
    /// `@every` runs on a fixed grid of Unix time (multiples of the interval) instead of
    /// counting from when the scheduler started, so that replicas agree on the occurrences.
    let gridAligned: Bool
    /// The replica-coordination record (`asynq:{<queue>}:cron:<hash>`).
    let coordinationKey: String

    init(id: String, schedule: CronSchedule, task: AsynqTask, options: [TaskOption], gridAligned: Bool) {
        self.id = id
        self.schedule = schedule
        self.task = task
        self.options = options
        self.gridAligned = gridAligned
        var queue = "default"
        for case .queue(let name) in task.options + options { queue = name }
        self.queue = queue
        coordinationKey = RedisKeys.schedulerCoordination(
            queue, entryHash: Self.definitionHash(schedule: schedule, task: task, options: options))
    }

    /// The first occurrence strictly after `date`; nil when the schedule never fires again.
    func next(after date: Date) -> Date? {
        if gridAligned, let interval = schedule.interval {
            let step = max(1, interval.components.seconds)
            let seconds = date.timeIntervalSince1970.rounded(.down)
            guard seconds.isFinite, abs(seconds) < 1e17 else { return nil }
            let whole = Int64(seconds)
            let floorQuotient = whole >= 0 ? whole / step : -((-whole + step - 1) / step)
            return Date(unixSeconds: (floorQuotient + 1) * step)
        }
        return schedule.next(after: date)
    }

    /// The latest occurrence `p` with `after < p <= notAfter`, or nil when there is none.
    ///
    /// Cron schedules only step forward, so the search widens a window ending at `notAfter`
    /// (1 s, 2 s, 4 s, …) until it holds an occurrence, then walks forward inside it: the walk
    /// takes a handful of steps whatever the length of the gap.
    func latestOccurrence(after: Date, notAfter: Date) -> Date? {
        guard after < notAfter else { return nil }
        var window: TimeInterval = 1
        while true {
            let start = max(after, notAfter.addingTimeInterval(-window))
            if var latest = next(after: start), latest <= notAfter {
                while let following = next(after: latest), following <= notAfter { latest = following }
                return latest
            }
            if start <= after { return nil }
            window *= 2
        }
    }

    /// How long the coordination record is kept after a claim: long enough to survive any
    /// realistic downtime (for the `runLatest` misfire policy) and several periods of the entry.
    func coordinationTTL(after occurrence: Date) -> Int64 {
        let minimum: Int64 = 30 * 86_400
        guard let following = next(after: occurrence) else { return minimum }
        let gap = Int64(following.timeIntervalSince(occurrence).rounded(.up))
        let (tripled, overflow) = gap.multipliedReportingOverflow(by: 3)
        return overflow ? Int64(Int32.max) : min(max(minimum, tripled), Int64(Int32.max))
    }

    /// The zone's identifier, with the aliases of UTC (`GMT`, `Etc/UTC`, …) as `UTC`, so that
    /// replicas configured with `.gmt` and `TimeZone(identifier: "UTC")` agree.
    static func zoneName(_ zone: TimeZone) -> String {
        let utcAliases: Set<String> = [
            "UTC", "GMT", "UCT", "Zulu", "Universal", "Greenwich", "GMT0", "GMT+0", "GMT-0", "Etc/UTC", "Etc/GMT",
            "Etc/UCT", "Etc/Zulu", "Etc/Universal", "Etc/Greenwich", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0",
        ]
        return utcAliases.contains(zone.identifier) ? "UTC" : zone.identifier
    }

    /// SHA-256 over everything that defines what is enqueued and when: spec, zone, task type,
    /// payload, headers, the task's options and the register options (each field length-prefixed,
    /// so different splits never collide). Replicas registering the same entry compute the same
    /// hash although their entry IDs differ. 32 hex digits (128 bits) are kept.
    static func definitionHash(schedule: CronSchedule, task: AsynqTask, options: [TaskOption]) -> String {
        var hasher = SHA256()
        func field(_ bytes: some Collection<UInt8>) {
            let count = UInt64(bytes.count)
            hasher.update((0..<8).map { UInt8(truncatingIfNeeded: count >> (8 * UInt64($0))) })
            hasher.update(bytes)
        }
        field(Array("asynq-swift cron entry v1".utf8))
        field(Array(schedule.spec.utf8))
        field(Array(Self.zoneName(schedule.timeZone).utf8))
        field(Array(task.type.utf8))
        if let payload = task.payload {
            field([1])
            field(Array(payload))
        } else {
            field([0])
        }
        let headers = task.headers.sorted { $0.key < $1.key }
        field(Array("\(headers.count)".utf8))
        for (key, value) in headers {
            field(Array(key.utf8))
            field(Array(value.utf8))
        }
        field(Array("\(task.options.count)".utf8))
        for option in task.options { field(Array(option.description.utf8)) }
        field(Array("\(options.count)".utf8))
        for option in options { field(Array(option.description.utf8)) }
        return String(hasher.hexDigest().prefix(32))
    }
}
