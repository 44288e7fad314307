import Asynq
package import Foundation

extension DashState {
    /// Changes the state for one key and says what the session should do. Navigation needs no
    /// effect: the session fetches whenever ``fetchPlan`` changes.
    package mutating func handle(_ key: DashKey, now: Date) -> [DashEffect] {
        if key == .ctrlC { return [.quit] }
        if let pending = confirmation {
            confirmation = nil
            if key == .character("y") || key == .character("Y") { return [.perform(pending.operation)] }
            message = DashMessage("Cancelled", at: now)
            return []
        }
        message = nil
        if showHelp {
            switch key {
            case .character("q"): return [.quit]
            case .character("?"), .escape, .backspace, .enter, .left, .character("h"): showHelp = false
            default: break
            }
            return []
        }
        switch key {
        case .character("q"): return [.quit]
        case .character("?"):
            showHelp = true
            return []
        case .ctrlL: return [.redraw, .fetch]
        case .ctrlZ: return [.suspend]
        default: break
        }
        switch screen {
        case .queues: return handleQueuesKey(key, now: now)
        case .queue: return handleQueueKey(key, now: now)
        case .task: return handleTaskKey(key, now: now)
        }
    }

    // MARK: Queues view

    private mutating func handleQueuesKey(_ key: DashKey, now: Date) -> [DashEffect] {
        let count = queues.count
        switch key {
        case .up, .character("k"): selectedQueue = max(0, selectedQueue - 1)
        case .down, .character("j"): selectedQueue = max(0, min(count - 1, selectedQueue + 1))
        case .home, .character("g"): selectedQueue = 0
        case .end, .character("G"): selectedQueue = max(0, count - 1)
        case .pageUp, .character("p"): selectedQueue = max(0, selectedQueue - DashLayout.queuePageStep(size))
        case .pageDown, .character("n"):
            selectedQueue = max(0, min(count - 1, selectedQueue + DashLayout.queuePageStep(size)))
        case .enter, .right, .character("l"):
            guard queues.indices.contains(selectedQueue) else { return [] }
            openQueue(queues[selectedQueue])
        case .character("P"):
            guard queues.indices.contains(selectedQueue) else { return [] }
            let info = queues[selectedQueue]
            return [.perform(info.paused ? .unpause(queue: info.queue) : .pause(queue: info.queue))]
        default: break
        }
        return []
    }

    private mutating func openQueue(_ info: QueueInfo) {
        let state = Self.stateOrder.first { info.count(of: $0) > 0 } ?? .pending
        queueScreen = DashQueueScreen(queue: info.queue, state: state)
        queueInfo = info
    }

    // MARK: Queue view

    private mutating func handleQueueKey(_ key: DashKey, now: Date) -> [DashEffect] {
        guard var screen = queueScreen else { return [] }
        defer { if queueScreen != nil { queueScreen = screen } }
        // Tabs.
        let tab = Self.stateOrder.firstIndex(of: screen.state) ?? 0
        var newTab: Int?
        switch key {
        case .left, .character("h"), .backTab: newTab = (tab + Self.stateOrder.count - 1) % Self.stateOrder.count
        case .right, .character("l"), .tab: newTab = (tab + 1) % Self.stateOrder.count
        case .character(let character):
            if let digit = character.wholeNumberValue, (1...Self.stateOrder.count).contains(digit) {
                newTab = digit - 1
            }
        default: break
        }
        if let newTab {
            screen = DashQueueScreen(queue: screen.queue, state: Self.stateOrder[newTab])
            return []
        }
        if key == .character("P") {
            guard let info = queueInfo else { return [] }
            return [.perform(info.paused ? .unpause(queue: info.queue) : .pause(queue: info.queue))]
        }
        if screen.state == .aggregating && screen.group == nil {
            return handleGroupListKey(key, screen: &screen)
        }
        let lastRow = tasksAreCurrent ? tasks.count - 1 : 0
        switch key {
        case .escape, .backspace:
            if screen.group != nil {
                screen.group = nil
                screen.page = 1
                screen.selected = 0
            } else {
                queueScreen = nil
            }
        case .up, .character("k"):
            if screen.selected > 0 {
                screen.selected -= 1
            } else if screen.page > 1 {
                screen.page -= 1
                screen.selected = pageSize - 1
            }
        case .down, .character("j"):
            if screen.selected < lastRow {
                screen.selected += 1
            } else if screen.page < pageCount {
                screen.page += 1
                screen.selected = 0
            }
        case .home, .character("g"): screen.selected = 0
        case .end, .character("G"): screen.selected = max(0, lastRow)
        case .pageDown, .character("n"):
            if screen.page < pageCount {
                screen.page += 1
                screen.selected = 0
            }
        case .pageUp, .character("p"):
            if screen.page > 1 {
                screen.page -= 1
                screen.selected = 0
            }
        case .enter:
            guard let task = selectedTask(screen) else { return [] }
            taskScreen = DashTaskScreen(queue: task.queue, id: task.id)
            self.task = task
            taskKey = DashTaskKey(queue: task.queue, id: task.id)
        case .character("r"), .character("a"), .character("d"), .character("c"), .delete:
            guard let task = selectedTask(screen) else { return [] }
            return taskAction(key, task: task, now: now)
        default: break
        }
        return []
    }

    private mutating func handleGroupListKey(_ key: DashKey, screen: inout DashQueueScreen) -> [DashEffect] {
        let count = groupsQueue == screen.queue ? groups.count : 0
        switch key {
        case .escape, .backspace: queueScreen = nil
        case .up, .character("k"): screen.groupSelected = max(0, screen.groupSelected - 1)
        case .down, .character("j"): screen.groupSelected = max(0, min(count - 1, screen.groupSelected + 1))
        case .home, .character("g"): screen.groupSelected = 0
        case .end, .character("G"): screen.groupSelected = max(0, count - 1)
        case .pageUp, .character("p"): screen.groupSelected = max(0, screen.groupSelected - pageSize)
        case .pageDown, .character("n"):
            screen.groupSelected = max(0, min(count - 1, screen.groupSelected + pageSize))
        case .enter:
            guard screen.groupSelected < count else { return [] }
            screen.group = groups[screen.groupSelected].group
            screen.page = 1
            screen.selected = 0
        default: break
        }
        return []
    }

    private func selectedTask(_ screen: DashQueueScreen) -> TaskInfo? {
        guard tasksAreCurrent, tasks.indices.contains(screen.selected) else { return nil }
        return tasks[screen.selected]
    }

    // MARK: Task view

    private mutating func handleTaskKey(_ key: DashKey, now: Date) -> [DashEffect] {
        guard var screen = taskScreen else { return [] }
        let rows = DashLayout.bodyRows(size)
        let lineCount =
            task.map { DashRenderer.taskDetailLines($0, width: size.width, config: config, now: now).count } ?? 0
        let maxScroll = max(0, lineCount - rows)
        switch key {
        case .escape, .backspace, .left, .character("h"):
            taskScreen = nil
            return []
        case .up, .character("k"): screen.scroll = max(0, screen.scroll - 1)
        case .down, .character("j"): screen.scroll = min(maxScroll, screen.scroll + 1)
        case .pageUp, .character("p"): screen.scroll = max(0, screen.scroll - rows)
        case .pageDown, .character("n"), .character(" "): screen.scroll = min(maxScroll, screen.scroll + rows)
        case .home, .character("g"): screen.scroll = 0
        case .end, .character("G"): screen.scroll = maxScroll
        case .character("r"), .character("a"), .character("d"), .character("c"), .delete:
            guard let task, task.id == screen.id else { return [] }
            return taskAction(key, task: task, now: now)
        default: break
        }
        taskScreen = screen
        return []
    }

    // MARK: Task actions

    private mutating func taskAction(_ key: DashKey, task: TaskInfo, now: Date) -> [DashEffect] {
        switch key {
        case .character("r"):
            return [.perform(.runTask(queue: task.queue, id: task.id))]
        case .character("a"):
            return [.perform(.archiveTask(queue: task.queue, id: task.id))]
        case .character("d"), .delete:
            if task.state == .active {
                message = DashMessage(
                    "An active task cannot be deleted; cancel it first (c)", isError: true, at: now)
                return []
            }
            confirmation = DashConfirmation(
                prompt: "Delete \(task.state) task \(task.id) from queue \(CLIFormat.quote(task.queue))? [y/N]",
                operation: .deleteTask(queue: task.queue, id: task.id))
            return []
        case .character("c"):
            guard task.state == .active else {
                message = DashMessage("Only an active task can be cancelled", isError: true, at: now)
                return []
            }
            return [.perform(.cancelTask(id: task.id))]
        default:
            return []
        }
    }
}
