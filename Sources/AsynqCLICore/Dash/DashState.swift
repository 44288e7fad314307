package import Asynq
package import Foundation

/// The terminal's size in cells.
package struct DashSize: Hashable, Sendable {
    package var width: Int
    package var height: Int

    package init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

/// What does not change while the dashboard runs.
package struct DashConfig: Sendable {
    /// Where the data comes from, for the title bar (`127.0.0.1:6379`).
    package var target: String
    package var refresh: Duration
    /// Box-drawing characters and arrows (a UTF-8 terminal), or ASCII only.
    package var unicode: Bool

    package init(target: String, refresh: Duration = .seconds(8), unicode: Bool = true) {
        self.target = target
        self.refresh = refresh
        self.unicode = unicode
    }
}

/// A change the dashboard makes in Redis.
package enum DashOperation: Hashable, Sendable {
    case runTask(queue: String, id: String)
    case archiveTask(queue: String, id: String)
    case deleteTask(queue: String, id: String)
    case cancelTask(id: String)
    case pause(queue: String)
    case unpause(queue: String)

    /// The status line after it worked.
    package var successMessage: String {
        switch self {
        case .runTask(_, let id): "Task \(id) is now pending"
        case .archiveTask(_, let id): "Task \(id) archived"
        case .deleteTask(_, let id): "Task \(id) deleted"
        case .cancelTask(let id): "Sent cancelation signal for task \(id)"
        case .pause(let queue): "Queue \(CLIFormat.quote(queue)) paused"
        case .unpause(let queue): "Queue \(CLIFormat.quote(queue)) resumed"
        }
    }
}

/// What the session does after a key or a fetch (the state itself changed already).
package enum DashEffect: Hashable, Sendable {
    /// Fetch the data of the current view now.
    case fetch
    case perform(DashOperation)
    /// Clear the terminal and draw everything again.
    case redraw
    case quit
    /// Ctrl-Z: give the terminal back and stop the process until it is continued.
    case suspend
}

/// A line for the status bar.
package struct DashMessage: Hashable, Sendable {
    package var text: String
    package var isError: Bool
    package var at: Date

    package init(_ text: String, isError: Bool = false, at: Date) {
        self.text = text
        self.isError = isError
        self.at = at
    }
}

/// An operation waiting for y/n.
package struct DashConfirmation: Hashable, Sendable {
    package var prompt: String
    package var operation: DashOperation
}

/// One page of one task listing.
package struct DashTaskListKey: Hashable, Sendable {
    package var queue: String
    package var state: TaskState
    package var group: String?
    package var page: Int
    package var pageSize: Int

    package init(queue: String, state: TaskState, group: String?, page: Int, pageSize: Int) {
        self.queue = queue
        self.state = state
        self.group = group
        self.page = page
        self.pageSize = pageSize
    }
}

package struct DashTaskKey: Hashable, Sendable {
    package var queue: String
    package var id: String

    package init(queue: String, id: String) {
        self.queue = queue
        self.id = id
    }
}

/// What to read from Redis for the current view.
package struct DashFetchPlan: Hashable, Sendable {
    /// Every queue's info and the servers (the queues view).
    package var overview = false
    /// One queue's info.
    package var queue: String?
    /// The aggregation groups of this queue.
    package var groups: String?
    package var tasks: DashTaskListKey?
    package var task: DashTaskKey?

    package init(
        overview: Bool = false, queue: String? = nil, groups: String? = nil, tasks: DashTaskListKey? = nil,
        task: DashTaskKey? = nil
    ) {
        self.overview = overview
        self.queue = queue
        self.groups = groups
        self.tasks = tasks
        self.task = task
    }
}

/// What one fetch read.
package struct DashSnapshot: Sendable {
    package var plan: DashFetchPlan
    package var queues: [QueueInfo] = []
    package var servers: [ServerInfo] = []
    package var queueInfo: QueueInfo?
    package var groups: [GroupInfo] = []
    package var tasks: [TaskInfo] = []
    /// Nil when `plan.task` is set but the task no longer exists.
    package var task: TaskInfo?
    package var fetchedAt: Date

    package init(plan: DashFetchPlan, fetchedAt: Date) {
        self.plan = plan
        self.fetchedAt = fetchedAt
    }
}

/// A queue opened from the queues view: one task state at a time, paged.
package struct DashQueueScreen: Hashable, Sendable {
    package var queue: String
    package var state: TaskState
    /// 1-based.
    package var page = 1
    /// Row on the page.
    package var selected = 0
    /// For `.aggregating`: the group whose tasks are listed; nil lists the groups.
    package var group: String?
    package var groupSelected = 0

    package init(queue: String, state: TaskState) {
        self.queue = queue
        self.state = state
    }
}

/// One task's details.
package struct DashTaskScreen: Hashable, Sendable {
    package var queue: String
    package var id: String
    /// First detail line shown.
    package var scroll = 0

    package init(queue: String, id: String) {
        self.queue = queue
        self.id = id
    }
}

/// Everything the dashboard shows: navigation, selection and the data last read. Keys change
/// it through ``handle(_:now:)``, fetches through ``apply(_:)``; ``DashRenderer`` draws it.
/// No I/O happens here, so all of it is tested without a terminal or Redis.
package struct DashState: Sendable {
    package enum Screen: Hashable, Sendable {
        case queues
        case queue
        case task
    }

    /// Task states in the order of the queue view's tabs.
    package static let stateOrder: [TaskState] = [
        .active, .pending, .aggregating, .scheduled, .retry, .archived, .completed,
    ]

    package var config: DashConfig
    package var size: DashSize

    // Navigation.
    package var selectedQueue = 0
    package var queueScreen: DashQueueScreen?
    package var taskScreen: DashTaskScreen?
    package var showHelp = false
    package var confirmation: DashConfirmation?

    // Status.
    package var message: DashMessage?
    /// The last fetch's error; cleared by the next successful fetch.
    package var error: String?
    package var updatedAt: Date?
    /// When the fetch under way started (the title bar mentions one that takes a while).
    package var fetchingSince: Date?

    // Data.
    package var overviewLoaded = false
    package var queues: [QueueInfo] = []
    package var servers: [ServerInfo] = []
    /// The open queue's info.
    package var queueInfo: QueueInfo?
    package var groups: [GroupInfo] = []
    package var groupsQueue: String?
    package var tasks: [TaskInfo] = []
    /// Which listing `tasks` holds (nil before the first one arrived).
    package var tasksKey: DashTaskListKey?
    /// The open task; nil with `taskKey` set when it no longer exists.
    package var task: TaskInfo?
    package var taskKey: DashTaskKey?

    package init(config: DashConfig, size: DashSize) {
        self.config = config
        self.size = size
    }

    /// How often a failing fetch is tried again: the refresh interval, at most 2 s (so the
    /// dashboard notices soon that Redis is back).
    package static func retryInterval(_ refresh: Duration) -> Duration {
        min(refresh, .seconds(2))
    }

    package var screen: Screen {
        if taskScreen != nil { return .task }
        if queueScreen != nil { return .queue }
        return .queues
    }

    /// Rows of tasks per page in the queue view (the page size asked of Redis).
    package var pageSize: Int { DashLayout.listRows(size) }

    /// The data the current view needs; the session fetches again whenever this changes.
    package var fetchPlan: DashFetchPlan {
        if let screen = taskScreen {
            return DashFetchPlan(task: DashTaskKey(queue: screen.queue, id: screen.id))
        }
        if let screen = queueScreen {
            var plan = DashFetchPlan(queue: screen.queue)
            if screen.state == .aggregating {
                plan.groups = screen.queue
                if screen.group != nil { plan.tasks = listKey(screen) }
            } else {
                plan.tasks = listKey(screen)
            }
            return plan
        }
        return DashFetchPlan(overview: true)
    }

    package func listKey(_ screen: DashQueueScreen) -> DashTaskListKey {
        DashTaskListKey(
            queue: screen.queue, state: screen.state, group: screen.state == .aggregating ? screen.group : nil,
            page: screen.page, pageSize: pageSize)
    }

    /// Whether `tasks` holds the listing the queue view shows now.
    package var tasksAreCurrent: Bool {
        guard let screen = queueScreen else { return false }
        return tasksKey == listKey(screen)
    }

    /// How many tasks the current listing has in all (from the queue's counts or group size).
    package var listCount: Int {
        guard let screen = queueScreen else { return 0 }
        if screen.state == .aggregating, let group = screen.group {
            return groups.first { $0.group == group }?.size ?? tasks.count
        }
        return queueInfo?.count(of: screen.state) ?? 0
    }

    package var pageCount: Int {
        max(1, (listCount + pageSize - 1) / max(1, pageSize))
    }

    // MARK: Data

    /// Takes in what a fetch read, if it is still what the view needs (else it is ignored:
    /// the session fetches again for the new view).
    package mutating func apply(_ snapshot: DashSnapshot) {
        guard snapshot.plan == fetchPlan else { return }
        error = nil
        updatedAt = snapshot.fetchedAt
        let plan = snapshot.plan
        if plan.overview {
            // The selection follows its queue when others come or go.
            let selectedName = queues.indices.contains(selectedQueue) ? queues[selectedQueue].queue : nil
            queues = snapshot.queues
            servers = snapshot.servers
            overviewLoaded = true
            if let selectedName, let index = queues.firstIndex(where: { $0.queue == selectedName }) {
                selectedQueue = index
            }
            selectedQueue = clamp(selectedQueue, count: queues.count)
        }
        if plan.queue != nil, let info = snapshot.queueInfo {
            queueInfo = info
            if let index = queues.firstIndex(where: { $0.queue == info.queue }) { queues[index] = info }
        }
        if let queue = plan.groups {
            groups = snapshot.groups
            groupsQueue = queue
            if var screen = queueScreen {
                screen.groupSelected = clamp(screen.groupSelected, count: groups.count)
                queueScreen = screen
            }
        }
        if let key = plan.tasks {
            // The selection follows its task when it is still on the page.
            let selectedID = selectedTaskID
            let samePage = tasksKey == key
            tasks = snapshot.tasks
            tasksKey = key
            if samePage, let selectedID, let index = tasks.firstIndex(where: { $0.id == selectedID }) {
                queueScreen?.selected = index
            }
        }
        if let key = plan.task {
            task = snapshot.task
            taskKey = key
        }
        if var screen = queueScreen {
            // Tasks were removed meanwhile: stay within the pages that exist.
            if screen.page > pageCount { screen.page = pageCount }
            if tasksAreCurrent { screen.selected = clamp(screen.selected, count: tasks.count) }
            queueScreen = screen
        }
    }

    /// The ID of the selected row of the task list shown.
    private var selectedTaskID: String? {
        guard let screen = queueScreen, tasksAreCurrent, tasks.indices.contains(screen.selected) else { return nil }
        return tasks[screen.selected].id
    }

    /// A fetch failed: the error shows on the status line, the data stays.
    package mutating func fetchFailed(_ description: String) {
        error = description
    }

    /// An operation finished.
    package mutating func finished(_ operation: DashOperation, error: String?, now: Date) -> [DashEffect] {
        if let error {
            message = DashMessage(error, isError: true, at: now)
            return [.fetch]
        }
        message = DashMessage(operation.successMessage, at: now)
        if case .deleteTask(let queue, let id) = operation, taskScreen?.queue == queue, taskScreen?.id == id {
            taskScreen = nil
        }
        return [.fetch]
    }

    private func clamp(_ index: Int, count: Int) -> Int {
        max(0, min(index, count - 1))
    }
}

extension QueueInfo {
    /// The number of tasks in `state`.
    package func count(of state: TaskState) -> Int {
        switch state {
        case .active: active
        case .pending: pending
        case .scheduled: scheduled
        case .retry: retry
        case .archived: archived
        case .completed: completed
        case .aggregating: aggregating
        }
    }
}

/// Sizes of the views' parts, shared by the key handling and the renderer.
package enum DashLayout {
    /// Smaller terminals get a "too small" notice.
    package static let minimumWidth = 40
    package static let minimumHeight = 10

    package static func isTooSmall(_ size: DashSize) -> Bool {
        size.width < minimumWidth || size.height < minimumHeight
    }

    /// Task rows in the queue view: all but the title, summary, tabs, blank, header, page and
    /// status lines.
    package static func listRows(_ size: DashSize) -> Int {
        max(1, size.height - 7)
    }

    /// Lines between the title bar and the status line.
    package static func bodyRows(_ size: DashSize) -> Int {
        max(1, size.height - 2)
    }

    /// How far Page Up/Down move in the queues table.
    package static func queuePageStep(_ size: DashSize) -> Int {
        max(1, size.height - 10)
    }
}
