import Asynq
import AsynqCLICore
import Foundation

/// A fixed picture of a Redis with three queues and one server, for renderer and key tests.
enum DashTestData {
    static let now = Date(timeIntervalSince1970: 1_750_000_000)

    static let queues: [QueueInfo] = [
        QueueInfo(queue: "critical", memoryUsage: 432, size: 2, pending: 2, paused: true, timestamp: now),
        QueueInfo(
            queue: "default", memoryUsage: 12_345, latency: .seconds(3), size: 52, pending: 40, active: 1,
            scheduled: 3, retry: 2, archived: 1, completed: 5, processed: 130, failed: 4, timestamp: now),
        QueueInfo(queue: "low", memoryUsage: 704, size: 2, groups: 2, aggregating: 2, timestamp: now),
    ]

    static let servers: [ServerInfo] = [
        ServerInfo(
            id: "server-1", host: "worker-host", pid: 4242, concurrency: 10,
            queues: ["critical": 6, "default": 3, "low": 1], strictPriority: false,
            started: now.addingTimeInterval(-3723), status: "active",
            activeWorkers: [
                WorkerInfo(
                    taskID: "t-active", taskType: "email:deliver", taskPayload: nil, queue: "default",
                    started: now.addingTimeInterval(-5), deadline: nil)
            ])
    ]

    static func config(unicode: Bool = true) -> DashConfig {
        DashConfig(target: "127.0.0.1:6379", refresh: .seconds(8), unicode: unicode)
    }

    /// The queues view with the overview loaded.
    static func state(width: Int = 120, height: Int = 40, unicode: Bool = true) -> DashState {
        var state = DashState(config: config(unicode: unicode), size: DashSize(width: width, height: height))
        var snapshot = DashSnapshot(plan: DashFetchPlan(overview: true), fetchedAt: now)
        snapshot.queues = queues
        snapshot.servers = servers
        state.apply(snapshot)
        return state
    }

    static func retryTasks(count: Int, queue: String = "default") -> [TaskInfo] {
        (0..<count).map { index in
            TaskInfo(
                id: "retry-\(index)", queue: queue, type: "email:deliver",
                payload: Data(#"{"to":"user\#(index)@example.com"}"#.utf8), state: .retry, maxRetry: 25, retried: 1,
                lastError: "smtp: connection refused", lastFailedAt: now.addingTimeInterval(-60),
                timeout: .seconds(1800), nextProcessAt: now.addingTimeInterval(200))
        }
    }

    /// Answers `state`'s current fetch plan with these tasks (and the queue's info).
    static func answer(
        _ state: inout DashState, tasks: [TaskInfo] = [], groups: [GroupInfo] = [], task: TaskInfo? = nil
    ) {
        let plan = state.fetchPlan
        var snapshot = DashSnapshot(plan: plan, fetchedAt: now)
        if let queue = plan.queue { snapshot.queueInfo = queues.first { $0.queue == queue } }
        if plan.overview {
            snapshot.queues = queues
            snapshot.servers = servers
        }
        snapshot.tasks = tasks
        snapshot.groups = groups
        snapshot.task = task
        state.apply(snapshot)
    }

    static func text(_ state: DashState) -> [String] {
        DashRenderer.render(state, now: now).map(\.text)
    }
}

extension DashState {
    /// Feeds keys, returning every effect.
    @discardableResult
    mutating func press(_ keys: DashKey...) -> [DashEffect] {
        var effects: [DashEffect] = []
        for key in keys { effects += handle(key, now: DashTestData.now) }
        return effects
    }
}
