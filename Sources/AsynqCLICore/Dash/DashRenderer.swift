package import Asynq
package import Foundation

/// The characters the dashboard draws with: Unicode on a UTF-8 terminal, else ASCII.
package struct DashGlyphs: Sendable {
    package var ellipsis: String
    package var marker: String
    package var crumb: String
    package var dot: String
    package var upDown: String
    package var leftRight: String
    package var enter: String
    package var cross: String

    package static let unicode = DashGlyphs(
        ellipsis: "…", marker: "▸", crumb: " › ", dot: " · ", upDown: "↑↓", leftRight: "←→", enter: "⏎",
        cross: "✖")
    package static let ascii = DashGlyphs(
        ellipsis: "~", marker: ">", crumb: " > ", dot: " | ", upDown: "up/down", leftRight: "left/right",
        enter: "enter", cross: "!")

    package static func forConfig(_ config: DashConfig) -> DashGlyphs { config.unicode ? .unicode : .ascii }
}

/// Draws a ``DashState`` as screen lines: exactly `size.height` lines, none wider than
/// `size.width` cells. A pure function of the state and the time, so it is tested as text.
package enum DashRenderer {
    /// Status messages disappear after this long.
    static let messageLifetime: TimeInterval = 10

    package static func render(_ state: DashState, now: Date) -> [DashLine] {
        let size = state.size
        let glyphs = DashGlyphs.forConfig(state.config)
        guard size.width > 0, size.height > 0 else { return [] }
        if DashLayout.isTooSmall(size) {
            var lines = [
                DashLine("Terminal too small (\(size.width)x\(size.height))", .bold),
                DashLine("asynq dash needs \(DashLayout.minimumWidth)x\(DashLayout.minimumHeight)"),
                DashLine("q quits"),
            ]
            lines = Array(lines.prefix(size.height))
            while lines.count < size.height { lines.append(DashLine()) }
            return lines.map { $0.truncated(to: size.width, ellipsis: "") }
        }
        var lines = [titleBar(state, now: now, glyphs: glyphs)]
        let rows = DashLayout.bodyRows(size)
        var body: [DashLine]
        if state.showHelp {
            body = helpLines(state, glyphs: glyphs)
        } else {
            switch state.screen {
            case .queues: body = queuesBody(state, now: now, glyphs: glyphs)
            case .queue: body = queueBody(state, now: now, glyphs: glyphs)
            case .task: body = taskBody(state, now: now, glyphs: glyphs)
            }
        }
        body = Array(body.prefix(rows))
        while body.count < rows { body.append(DashLine()) }
        lines += body
        lines.append(statusLine(state, now: now, glyphs: glyphs))
        return lines.map { $0.truncated(to: size.width, ellipsis: glyphs.ellipsis) }
    }

    // MARK: Title and status

    private static func titleBar(_ state: DashState, now: Date, glyphs: DashGlyphs) -> DashLine {
        let bar = DashStyle(reverse: true)
        var left = DashLine(" asynq dash ", DashStyle(bold: true, reverse: true))
        left.append(glyphs.dot.trimmingCharacters(in: .whitespaces) + " " + state.config.target, bar)
        var crumbs = ["Queues"]
        if let screen = state.queueScreen {
            crumbs.append(TerminalText.sanitize(screen.queue, ascii: !state.config.unicode))
            crumbs.append(screen.state.description)
            if let group = screen.group {
                crumbs.append("group " + TerminalText.sanitize(group, ascii: !state.config.unicode))
            }
        }
        if let screen = state.taskScreen {
            crumbs.append(TerminalText.sanitize(screen.id, ascii: !state.config.unicode))
        }
        if state.showHelp { crumbs.append("Help") }
        left.append("  " + crumbs.joined(separator: glyphs.crumb), bar)
        var right =
            if state.error != nil {
                "retrying every \(GoFormat.duration(DashState.retryInterval(state.config.refresh)))"
            } else if let since = state.fetchingSince, now.timeIntervalSince(since) >= 1 {
                "refreshing" + glyphs.ellipsis
            } else {
                "every \(GoFormat.duration(state.config.refresh))"
            }
        right += glyphs.dot + clock(now) + " "
        return joinEnds(left, DashLine(right, bar), width: state.size.width, fill: bar, glyphs: glyphs)
    }

    private static func statusLine(_ state: DashState, now: Date, glyphs: DashGlyphs) -> DashLine {
        let width = state.size.width
        if let confirmation = state.confirmation {
            return DashLine(confirmation.prompt, DashStyle(bold: true, foreground: .yellow))
        }
        if let message = state.message, now.timeIntervalSince(message.at) < messageLifetime {
            return DashLine(message.text, DashStyle(bold: true, foreground: message.isError ? .red : .green))
        }
        if let error = state.error {
            return DashLine("\(glyphs.cross) \(shortError(error))", DashStyle(bold: true, foreground: .red))
        }
        var right = DashLine()
        if let updated = state.updatedAt {
            right = DashLine("updated " + ago(updated, now: now), .dim)
        }
        let hints = hints(state, glyphs: glyphs)
        // The last ones (back, help, quit) always show; the others as room allows.
        let requiredCount = state.screen == .queues || state.showHelp ? 2 : 3
        var line = DashLine()
        let required = hints.suffix(requiredCount)
        let requiredWidth = required.reduce(0) { $0 + TerminalText.width($1.0) + TerminalText.width($1.1) + 3 }
        var budget = width - requiredWidth - right.width - 2
        for (index, hint) in hints.enumerated() {
            let isRequired = index >= hints.count - requiredCount
            let cost = TerminalText.width(hint.0) + TerminalText.width(hint.1) + 3
            if !isRequired {
                guard cost <= budget else { continue }
                budget -= cost
            }
            line.append(" ")
            line.append(hint.0, .bold)
            line.append(" " + hint.1 + " ")
        }
        return joinEnds(line, right, width: width, fill: .plain, glyphs: glyphs)
    }

    /// A connection error without NIO's inner details, which do not fit on a line:
    /// `redis: could not connect to 127.0.0.1:6379: connection refused`.
    package static func shortError(_ text: String) -> String {
        guard let range = text.range(of: " Connection errors:") else { return text }
        var short = String(text[..<range.lowerBound])
        while short.hasSuffix(":") { short.removeLast() }
        let rest = text[range.upperBound...].lowercased()
        for reason in ["connection refused", "connection timed out", "no route to host", "network is unreachable"]
        where rest.contains(reason) {
            return short + ": " + reason
        }
        return short
    }

    /// Key hints for the status line: (key, action), the most useful first.
    private static func hints(_ state: DashState, glyphs: DashGlyphs) -> [(String, String)] {
        if state.showHelp { return [("esc", "close"), ("q", "quit")] }
        switch state.screen {
        case .queues:
            return [
                (glyphs.upDown, "select"), (glyphs.enter, "open"), ("P", "pause/resume"), ("?", "help"),
                ("q", "quit"),
            ]
        case .queue:
            if let screen = state.queueScreen, screen.state == .aggregating, screen.group == nil {
                return [
                    (glyphs.leftRight, "state"), (glyphs.upDown, "select"), (glyphs.enter, "tasks"),
                    ("esc", "back"), ("?", "help"), ("q", "quit"),
                ]
            }
            return [
                (glyphs.leftRight, "state"), (glyphs.upDown, "select"), ("n/p", "page"), (glyphs.enter, "details"),
                ("r", "run"), ("a", "archive"), ("d", "delete"), ("esc", "back"), ("?", "help"), ("q", "quit"),
            ]
        case .task:
            return [
                (glyphs.upDown, "scroll"), ("r", "run"), ("a", "archive"), ("d", "delete"), ("c", "cancel"),
                ("esc", "back"), ("?", "help"), ("q", "quit"),
            ]
        }
    }

    /// `left` and `right` on one line of `width` cells, `right` flush with the end (dropped when
    /// both do not fit).
    private static func joinEnds(
        _ left: DashLine, _ right: DashLine, width: Int, fill: DashStyle, glyphs: DashGlyphs
    ) -> DashLine {
        if left.width + right.width + 1 > width {
            return left.filled(to: width, style: fill, ellipsis: glyphs.ellipsis)
        }
        var line = left
        line.append(String(repeating: " ", count: width - left.width - right.width), fill)
        line.append(right)
        return line
    }

    // MARK: Queues view

    private static func queuesBody(_ state: DashState, now: Date, glyphs: DashGlyphs) -> [DashLine] {
        let rows = DashLayout.bodyRows(state.size)
        let width = state.size.width
        guard state.overviewLoaded else {
            if let error = state.error {
                return [
                    DashLine(), DashLine("Cannot read from \(state.config.target): \(error)", .color(.red, bold: true)),
                ]
            }
            return [DashLine(), DashLine("Loading" + glyphs.ellipsis, .dim)]
        }
        var lines = summaryLines(state, glyphs: glyphs, width: width)
        lines.append(DashLine())
        let available = rows - lines.count
        let queueTable = queuesTable(state, glyphs: glyphs)
        let serverTable = serversTable(state, now: now, glyphs: glyphs)
        let wantedQueues = 1 + max(1, state.queues.count)
        let wantedServers = state.servers.isEmpty ? 2 : 3 + state.servers.count
        let minimumServers = state.servers.isEmpty ? 2 : 4
        var queueLines = wantedQueues
        if wantedQueues + wantedServers > available {
            queueLines = max(min(wantedQueues, available - minimumServers), min(wantedQueues, 2))
        }
        let serverLines = max(0, available - queueLines)

        // Queues table, scrolled so the selection shows.
        let layout = queueTable.layout(width: width)
        lines.append(
            queueTable.headerLine(layout, style: DashStyle(bold: true, underline: true), ellipsis: glyphs.ellipsis))
        let visibleRows = max(1, queueLines - 1)
        var hidden = false
        if state.queues.isEmpty {
            lines.append(DashLine("  No queues yet: they appear when tasks are enqueued.", .dim))
        } else {
            let offset = max(0, state.selectedQueue - visibleRows + 1)
            let end = min(state.queues.count, offset + visibleRows)
            hidden = offset > 0 || end < state.queues.count
            for row in offset..<end {
                var line = queueTable.rowLine(row, layout, ellipsis: glyphs.ellipsis)
                if row == state.selectedQueue { line = highlighted(line, width: width) }
                lines.append(line)
            }
            if hidden {
                let dash = state.config.unicode ? "–" : "-"
                lines.append(DashLine("  queues \(offset + 1)\(dash)\(end) of \(state.queues.count)", .dim))
            }
        }

        // Servers.
        guard serverLines > (hidden ? 1 : 0) else { return lines }
        if !hidden { lines.append(DashLine()) }
        if state.servers.isEmpty {
            lines.append(DashLine("No servers running", .dim))
            return lines
        }
        lines.append(DashLine("Servers (\(state.servers.count))", .bold))
        let serverLayout = serverTable.layout(width: width)
        lines.append(
            serverTable.headerLine(
                serverLayout, style: DashStyle(bold: true, underline: true), ellipsis: glyphs.ellipsis))
        let room = rows - lines.count
        guard room > 0 else { return lines }
        let shown = state.servers.count <= room ? state.servers.count : max(0, room - 1)
        for row in 0..<shown { lines.append(serverTable.rowLine(row, serverLayout, ellipsis: glyphs.ellipsis)) }
        if shown < state.servers.count {
            lines.append(DashLine("  and \(state.servers.count - shown) more", .dim))
        }
        return lines
    }

    private static func summaryLines(_ state: DashState, glyphs: DashGlyphs, width: Int) -> [DashLine] {
        var totals = (size: 0, processed: 0, failed: 0, paused: 0)
        var counts = Array(repeating: 0, count: DashState.stateOrder.count)
        for info in state.queues {
            totals.size += info.size
            totals.processed += info.processed
            totals.failed += info.failed
            if info.paused { totals.paused += 1 }
            for (index, taskState) in DashState.stateOrder.enumerated() { counts[index] += info.count(of: taskState) }
        }
        func taskCounts(short: Bool) -> [(String, DashStyle)] {
            var pieces: [(String, DashStyle)] = [("Tasks \(counts.reduce(0, +))", .bold)]
            for (index, taskState) in DashState.stateOrder.enumerated() {
                let name = short ? shortName(taskState).lowercased() : taskState.description
                pieces.append(("\(name) \(counts[index])", counts[index] == 0 ? .dim : stateStyle(taskState)))
            }
            return pieces
        }
        var first = taskCounts(short: false)
        if chunksWidth(first, glyphs: glyphs) > width {
            first = taskCounts(short: true)
        }
        let busy = state.servers.reduce(0) { $0 + $1.activeWorkers.count }
        let concurrency = state.servers.reduce(0) { $0 + $1.concurrency }
        let queueText =
            "\(state.queues.count) \(state.queues.count == 1 ? "queue" : "queues")"
            + (totals.paused > 0 ? " (\(totals.paused) paused)" : "")
        let second: [(String, DashStyle)] = [
            ("Today", .bold),
            ("processed \(totals.processed)", .plain),
            ("failed \(totals.failed)", totals.failed > 0 ? .color(.red) : .plain),
            ("error rate \(CLIFormat.errorRate(processed: totals.processed, failed: totals.failed))", .plain),
            (queueText, totals.paused > 0 ? .color(.yellow) : .plain),
            state.servers.isEmpty
                ? ("no servers", .plain)
                : (
                    "\(state.servers.count) \(state.servers.count == 1 ? "server" : "servers"), \(busy)/\(concurrency) workers busy",
                    .plain
                ),
        ]
        return [chunks(first, width: width, glyphs: glyphs), chunks(second, width: width, glyphs: glyphs)]
    }

    private static func separator(_ index: Int, glyphs: DashGlyphs) -> String {
        index == 0 ? "" : (index == 1 ? "  " : glyphs.dot)
    }

    /// The width of all of `pieces` on one line.
    private static func chunksWidth(_ pieces: [(String, DashStyle)], glyphs: DashGlyphs) -> Int {
        pieces.enumerated().reduce(0) { $0 + TerminalText.width(separator($1.offset, glyphs: glyphs) + $1.element.0) }
    }

    /// Pieces of text separated by a dot, as many as fit.
    private static func chunks(_ pieces: [(String, DashStyle)], width: Int, glyphs: DashGlyphs) -> DashLine {
        var line = DashLine()
        for (index, piece) in pieces.enumerated() {
            let separator = separator(index, glyphs: glyphs)
            if line.width + TerminalText.width(separator + piece.0) > width { break }
            line.append(separator, .dim)
            line.append(piece.0, piece.1)
        }
        return line
    }

    private static func queuesTable(_ state: DashState, glyphs: DashGlyphs) -> DashTable {
        let ascii = !state.config.unicode
        let columns = [
            DashColumn("  Queue", flexible: true, minWidth: 10, preferredMaxWidth: 30),
            DashColumn("State", dropPriority: 2),
            DashColumn("Size", alignRight: true),
            DashColumn("Active", short: "Act", alignRight: true),
            DashColumn("Pending", short: "Pend", alignRight: true),
            DashColumn("Aggregating", short: "Aggr", alignRight: true, dropPriority: 1),
            DashColumn("Scheduled", short: "Sched", alignRight: true),
            DashColumn("Retry", alignRight: true),
            DashColumn("Archived", short: "Arch", alignRight: true),
            DashColumn("Completed", short: "Done", alignRight: true, dropPriority: 1),
            DashColumn("Latency", short: "Lat", alignRight: true, dropPriority: 3),
            DashColumn("Memory", short: "Mem", alignRight: true, dropPriority: 5),
            DashColumn("Processed", short: "Proc", alignRight: true, dropPriority: 4),
            DashColumn("Failed", short: "Fail", alignRight: true, dropPriority: 4),
        ]
        let rows: [[DashCell]] = state.queues.enumerated().map { index, info in
            let marker = index == state.selectedQueue ? glyphs.marker + " " : "  "
            var cells: [DashCell] = [
                DashCell(marker + TerminalText.sanitize(info.queue, ascii: ascii), .bold),
                info.paused ? DashCell("paused", .color(.yellow, bold: true)) : DashCell("run", .color(.green)),
                DashCell(String(info.size)),
            ]
            for taskState in DashState.stateOrder {
                let count = info.count(of: taskState)
                cells.append(DashCell(String(count), count == 0 ? .dim : stateStyle(taskState)))
            }
            cells.append(DashCell(CLIFormat.roundedDuration(seconds: seconds(info.latency))))
            cells.append(DashCell(byteCount(info.memoryUsage)))
            cells.append(DashCell(String(info.processed)))
            cells.append(DashCell(String(info.failed), info.failed > 0 ? .color(.red) : .plain))
            return cells
        }
        return DashTable(columns: columns, rows: rows)
    }

    private static func serversTable(_ state: DashState, now: Date, glyphs: DashGlyphs) -> DashTable {
        let ascii = !state.config.unicode
        let columns = [
            DashColumn("  Host", flexible: true, minWidth: 10, preferredMaxWidth: 26),
            DashColumn("PID", alignRight: true),
            DashColumn("Concurrency", short: "Conc", alignRight: true, dropPriority: 2),
            DashColumn("Busy", alignRight: true),
            DashColumn("Queues", flexible: true, minWidth: 8, preferredMaxWidth: 40),
            DashColumn("Uptime", dropPriority: 1),
            DashColumn("Status", dropPriority: 3),
        ]
        let rows: [[DashCell]] = state.servers.map { server in
            let queues = server.queues.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
                .map { "\($0.key):\($0.value)" }.joined(separator: " ")
            return [
                DashCell("  " + TerminalText.sanitize(server.host, ascii: ascii)),
                DashCell(String(server.pid)),
                DashCell(String(server.concurrency)),
                DashCell(
                    String(server.activeWorkers.count), server.activeWorkers.isEmpty ? .dim : .color(.cyan)),
                DashCell(TerminalText.sanitize(queues + (server.strictPriority ? " (strict)" : ""), ascii: ascii)),
                DashCell(CLIFormat.roundedDuration(seconds: max(0, now.timeIntervalSince(server.started)))),
                DashCell(server.status, server.status == "active" ? .color(.green) : .color(.yellow)),
            ]
        }
        return DashTable(columns: columns, rows: rows)
    }

    // MARK: Queue view

    private static func queueBody(_ state: DashState, now: Date, glyphs: DashGlyphs) -> [DashLine] {
        guard let screen = state.queueScreen else { return [] }
        let width = state.size.width
        let ascii = !state.config.unicode
        var lines: [DashLine] = []
        if let info = state.queueInfo, info.queue == screen.queue {
            var pieces: [(String, DashStyle)] = [
                (TerminalText.sanitize(info.queue, ascii: ascii), .bold),
                info.paused ? ("PAUSED", .color(.yellow, bold: true)) : ("running", .color(.green)),
                ("size \(info.size)", .plain),
                ("latency \(CLIFormat.roundedDuration(seconds: seconds(info.latency)))", .plain),
                ("memory \(byteCount(info.memoryUsage))", .plain),
                ("processed \(info.processed)", .plain),
                ("failed \(info.failed)", info.failed > 0 ? .color(.red) : .plain),
                ("error rate \(CLIFormat.errorRate(processed: info.processed, failed: info.failed))", .plain),
            ]
            if info.groups > 0 { pieces.insert(("groups \(info.groups)", .plain), at: 3) }
            lines.append(chunks(pieces, width: width, glyphs: glyphs))
        } else {
            lines.append(DashLine(TerminalText.sanitize(screen.queue, ascii: ascii), .bold))
        }
        lines.append(tabBar(state, screen: screen, width: width))
        lines.append(DashLine())
        let rows = DashLayout.listRows(state.size)
        if screen.state == .aggregating, screen.group == nil {
            lines += groupList(state, screen: screen, rows: rows, glyphs: glyphs)
            return lines
        }
        guard state.tasksAreCurrent else {
            lines.append(DashLine())
            lines.append(DashLine("  Loading" + glyphs.ellipsis, .dim))
            return lines
        }
        let where_ = screen.group.map { "group \(CLIFormat.quote($0))" } ?? "queue \(CLIFormat.quote(screen.queue))"
        if state.tasks.isEmpty {
            lines.append(DashLine())
            lines.append(DashLine("  No \(screen.state) tasks in \(TerminalText.sanitize(where_, ascii: ascii))", .dim))
            return lines
        }
        let table = taskTable(
            state.tasks, state: screen.state, now: now, selected: screen.selected, config: state.config)
        let layout = table.layout(width: width)
        lines.append(table.headerLine(layout, style: DashStyle(bold: true, underline: true), ellipsis: glyphs.ellipsis))
        for row in 0..<min(rows, state.tasks.count) {
            var line = table.rowLine(row, layout, ellipsis: glyphs.ellipsis)
            if row == screen.selected { line = highlighted(line, width: width) }
            lines.append(line)
        }
        while lines.count < 4 + rows { lines.append(DashLine()) }
        let first = (screen.page - 1) * state.pageSize + 1
        let last = first + state.tasks.count - 1
        let dash = state.config.unicode ? "–" : "-"
        lines.append(
            DashLine(
                "  Page \(screen.page) of \(state.pageCount)\(glyphs.dot)\(screen.state) tasks \(first)\(dash)\(last) of \(max(state.listCount, last))",
                .dim))
        return lines
    }

    private static func shortName(_ state: TaskState) -> String {
        switch state {
        case .active: "Act"
        case .pending: "Pend"
        case .aggregating: "Aggr"
        case .scheduled: "Sched"
        case .retry: "Retry"
        case .archived: "Arch"
        case .completed: "Done"
        }
    }

    private static func tabBar(_ state: DashState, screen: DashQueueScreen, width: Int) -> DashLine {
        func bar(_ useShort: Bool) -> DashLine {
            var line = DashLine()
            for taskState in DashState.stateOrder {
                let name = useShort ? shortName(taskState) : taskState.description.capitalized
                let count = state.queueInfo?.queue == screen.queue ? state.queueInfo?.count(of: taskState) ?? 0 : 0
                let label = "\(name) \(count)"
                if taskState == screen.state {
                    line.append(
                        "[" + label + "]", DashStyle(bold: true, reverse: true, foreground: stateColor(taskState)))
                } else {
                    line.append(" " + label + " ", count == 0 ? .dim : .plain)
                }
            }
            return line
        }
        let full = bar(false)
        return full.width <= width ? full : bar(true)
    }

    private static func groupList(
        _ state: DashState, screen: DashQueueScreen, rows: Int, glyphs: DashGlyphs
    )
        -> [DashLine]
    {
        let ascii = !state.config.unicode
        guard state.groupsQueue == screen.queue else {
            return [DashLine(), DashLine("  Loading" + glyphs.ellipsis, .dim)]
        }
        if state.groups.isEmpty {
            return [
                DashLine(),
                DashLine(
                    "  No aggregating tasks in queue \(CLIFormat.quote(TerminalText.sanitize(screen.queue, ascii: ascii)))",
                    .dim),
            ]
        }
        let table = DashTable(
            columns: [
                DashColumn("  Group", flexible: true, minWidth: 10, preferredMaxWidth: 60),
                DashColumn("Size", alignRight: true),
            ],
            rows: state.groups.enumerated().map { index, group in
                [
                    DashCell(
                        (index == screen.groupSelected ? glyphs.marker + " " : "  ")
                            + TerminalText.sanitize(group.group, ascii: ascii)),
                    DashCell(String(group.size)),
                ]
            })
        let layout = table.layout(width: state.size.width)
        var lines = [table.headerLine(layout, style: DashStyle(bold: true, underline: true), ellipsis: glyphs.ellipsis)]
        let offset = max(0, screen.groupSelected - rows + 1)
        for row in offset..<min(state.groups.count, offset + rows) {
            var line = table.rowLine(row, layout, ellipsis: glyphs.ellipsis)
            if row == screen.groupSelected { line = highlighted(line, width: state.size.width) }
            lines.append(line)
        }
        while lines.count < 1 + rows { lines.append(DashLine()) }
        lines.append(
            DashLine(
                "  \(state.groups.count) \(state.groups.count == 1 ? "group" : "groups")\(glyphs.dot)\(glyphs.enter) lists a group's tasks",
                .dim))
        return lines
    }

    private static func taskTable(
        _ tasks: [TaskInfo], state taskState: TaskState, now: Date, selected: Int, config: DashConfig
    ) -> DashTable {
        let glyphs = DashGlyphs.forConfig(config)
        let ascii = !config.unicode
        var columns = [
            DashColumn("  ID", flexible: true, minWidth: 10, preferredMaxWidth: 38),
            DashColumn("Type", flexible: true, minWidth: 8, preferredMaxWidth: 24),
            DashColumn("Payload", flexible: true, minWidth: 10, preferredMaxWidth: 30),
        ]
        if taskState != .completed {
            columns.append(DashColumn("Retried", short: "Retry", alignRight: true, dropPriority: 2))
        }
        switch taskState {
        case .scheduled: columns.append(DashColumn("Process In", short: "Due"))
        case .retry:
            columns.append(DashColumn("Next Retry", short: "Next"))
            columns.append(
                DashColumn("Last Error", short: "Error", flexible: true, minWidth: 10, preferredMaxWidth: 60))
        case .archived:
            columns.append(DashColumn("Last Failed", short: "Failed", dropPriority: 1))
            columns.append(
                DashColumn("Last Error", short: "Error", flexible: true, minWidth: 10, preferredMaxWidth: 60))
        case .completed:
            columns.append(DashColumn("Completed", short: "Done"))
            columns.append(DashColumn("Result", flexible: true, minWidth: 10, preferredMaxWidth: 60))
        case .active:
            columns.append(DashColumn("Note", dropPriority: 1))
        case .aggregating:
            columns.append(DashColumn("Group", flexible: true, minWidth: 8, preferredMaxWidth: 24))
        case .pending: break
        }
        let rows: [[DashCell]] = tasks.enumerated().map { index, task in
            var cells: [DashCell] = [
                DashCell(
                    (index == selected ? glyphs.marker + " " : "  ") + TerminalText.sanitize(task.id, ascii: ascii)),
                DashCell(TerminalText.sanitize(task.type, ascii: ascii), .bold),
                DashCell(preview(task.payload, ascii: ascii), .dim),
            ]
            if taskState != .completed {
                cells.append(DashCell("\(task.retried)/\(task.maxRetry)", task.retried > 0 ? .color(.yellow) : .plain))
            }
            switch taskState {
            case .scheduled:
                cells.append(DashCell(CLIFormat.processIn(task.nextProcessAt, now: now)))
            case .retry:
                cells.append(DashCell(CLIFormat.processIn(task.nextProcessAt, now: now)))
                cells.append(DashCell(TerminalText.sanitize(task.lastError, ascii: ascii), .color(.red)))
            case .archived:
                cells.append(DashCell(task.lastFailedAt.map { ago($0, now: now) } ?? ""))
                cells.append(DashCell(TerminalText.sanitize(task.lastError, ascii: ascii), .color(.red)))
            case .completed:
                cells.append(DashCell(task.completedAt.map { ago($0, now: now) } ?? ""))
                cells.append(DashCell(task.result.map { preview($0, ascii: ascii) } ?? "", .dim))
            case .active:
                cells.append(task.isOrphaned ? DashCell("orphaned", .color(.red)) : DashCell(""))
            case .aggregating:
                cells.append(DashCell(TerminalText.sanitize(task.group ?? "", ascii: ascii)))
            case .pending: break
            }
            return cells
        }
        return DashTable(columns: columns, rows: rows)
    }

    // MARK: Task view

    private static func taskBody(_ state: DashState, now: Date, glyphs: DashGlyphs) -> [DashLine] {
        guard let screen = state.taskScreen else { return [] }
        let key = DashTaskKey(queue: screen.queue, id: screen.id)
        guard let task = state.task, task.id == screen.id, task.queue == screen.queue else {
            if state.taskKey == key {
                return [
                    DashLine(),
                    DashLine("  Task \(screen.id) no longer exists in queue \(CLIFormat.quote(screen.queue)).", .bold),
                    DashLine("  esc goes back to the list.", .dim),
                ]
            }
            return [DashLine(), DashLine("  Loading" + glyphs.ellipsis, .dim)]
        }
        let lines = taskDetailLines(task, width: state.size.width, config: state.config, now: now)
        let rows = DashLayout.bodyRows(state.size)
        let scroll = max(0, min(screen.scroll, lines.count - rows))
        var shown = Array(lines.dropFirst(scroll).prefix(rows))
        if lines.count > rows, let last = shown.indices.last {
            let more = lines.count - scroll - rows
            if more > 0 {
                shown[last] = DashLine("  \(more) more \(more == 1 ? "line" : "lines") (\(glyphs.upDown) scroll)", .dim)
            }
        }
        return shown
    }

    /// The lines of the task view (labels, payload, result), before scrolling.
    package static func taskDetailLines(
        _ task: TaskInfo, width: Int, config: DashConfig, now: Date
    ) -> [DashLine] {
        let ascii = !config.unicode
        let labelWidth = 16
        let valueWidth = max(10, width - labelWidth - 2)
        var lines: [DashLine] = [DashLine()]
        func field(_ label: String, _ value: String, _ style: DashStyle = .plain) {
            let wrapped = TerminalText.wrap(TerminalText.sanitize(value, ascii: ascii), width: valueWidth)
            for (index, part) in wrapped.enumerated() {
                var line = DashLine("  " + TerminalText.pad(index == 0 ? label : "", to: labelWidth), .bold)
                line.append(part, style)
                lines.append(line)
            }
        }
        field("ID", task.id)
        field("Type", task.type)
        field("Queue", task.queue)
        field("State", task.state.description, stateStyle(task.state))
        field("Retried", "\(task.retried) of \(task.maxRetry)")
        if let group = task.group { field("Group", group) }
        switch task.state {
        case .completed, .active, .archived: break
        default: field("Next process", CLIFormat.nextProcessTime(task.nextProcessAt, now: now))
        }
        if task.state == .active, task.isOrphaned {
            field("Orphaned", "yes: its lease expired without a heartbeat", .color(.red))
        }
        field("Timeout", task.timeout == .zero ? "none" : GoFormat.duration(task.timeout))
        field("Deadline", task.deadline.map { at($0, now: now) } ?? "none")
        if task.retention > .zero { field("Retention", GoFormat.duration(task.retention)) }
        if let completed = task.completedAt { field("Completed at", at(completed, now: now)) }
        if let failed = task.lastFailedAt { field("Last failed at", at(failed, now: now)) }
        if !task.lastError.isEmpty { field("Last error", task.lastError, .color(.red)) }
        for (name, value) in task.headers.sorted(by: { $0.key < $1.key }) { field("Header", "\(name)=\(value)") }
        lines.append(DashLine())
        lines += dataLines("Payload", task.payload, width: width, ascii: ascii)
        if let result = task.result {
            lines.append(DashLine())
            lines += dataLines("Result", result, width: width, ascii: ascii)
        }
        return lines
    }

    /// A payload or result: its lines of text, or a hex dump of binary data (at most 4 KiB).
    private static func dataLines(_ title: String, _ data: Data?, width: Int, ascii: Bool) -> [DashLine] {
        guard let data, !data.isEmpty else { return [DashLine("  \(title): empty", .bold)] }
        var lines = [DashLine("  \(title) (\(data.count) \(data.count == 1 ? "byte" : "bytes"))", .bold)]
        let limit = 4096
        let shown = data.prefix(limit)
        if let text = String(validating: Array(shown), as: UTF8.self), isText(text) {
            for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let clean = TerminalText.sanitize(
                    String(rawLine).replacingOccurrences(of: "\t", with: "    "), ascii: ascii)
                for part in TerminalText.wrap(clean, width: max(10, width - 4)) {
                    lines.append(DashLine("    " + part))
                }
            }
        } else {
            let perLine = width >= 78 ? 16 : 8
            var offset = 0
            let bytes = Array(shown)
            while offset < bytes.count {
                let chunk = bytes[offset..<min(bytes.count, offset + perLine)]
                let hex = chunk.map { byte in
                    let digits = String(byte, radix: 16)
                    return digits.count == 1 ? "0" + digits : digits
                }.joined(separator: " ")
                let text = String(chunk.map { (0x20..<0x7F).contains($0) ? Character(Unicode.Scalar($0)) : "." })
                let position = String(offset, radix: 16)
                let paddedPosition = String(repeating: "0", count: max(0, 4 - position.count)) + position
                lines.append(
                    DashLine(
                        "    \(paddedPosition)  \(TerminalText.pad(hex, to: perLine * 3 - 1))  \(text)"))
                offset += perLine
            }
        }
        if data.count > limit { lines.append(DashLine("    (\(data.count - limit) more bytes not shown)", .dim)) }
        return lines
    }

    /// Text worth showing as text: no control characters but tabs and line breaks.
    private static func isText(_ text: String) -> Bool {
        !text.unicodeScalars.contains { scalar in
            (scalar.value < 0x20 && scalar != "\n" && scalar != "\r" && scalar != "\t")
                || (0x7F..<0xA0).contains(scalar.value)
        }
    }

    /// A payload in one line of a table.
    package static func preview(_ data: Data?, ascii: Bool) -> String {
        guard let data, !data.isEmpty else { return "" }
        guard let text = String(validating: Array(data.prefix(512)), as: UTF8.self) ?? validPrefix(data.prefix(512)),
            isText(text)
        else { return "binary, \(data.count) \(data.count == 1 ? "byte" : "bytes")" }
        return TerminalText.sanitize(text, ascii: ascii)
    }

    /// The bytes as text when only the cut at the end split a character.
    private static func validPrefix(_ data: Data) -> String? {
        for drop in 1...3 where data.count > drop {
            if let text = String(validating: Array(data.dropLast(drop)), as: UTF8.self) { return text }
        }
        return nil
    }

    // MARK: Help

    private static func helpLines(_ state: DashState, glyphs: DashGlyphs) -> [DashLine] {
        let keys: [(String, String)] = [
            (state.config.unicode ? "↑ k  ↓ j" : "up k  down j", "move the selection; scroll the task details"),
            ("PgUp p  PgDn n", "previous / next page"),
            ("Home g  End G", "first / last row"),
            (glyphs.enter == "⏎" ? "Enter" : "enter", "open the selected queue, group or task"),
            (
                state.config.unicode ? "← h  → l  Tab" : "left h  right l  Tab",
                "previous / next task state; 1-7 pick one"
            ),
            ("Esc  Backspace", "go back"),
            ("P", "pause or resume the queue"),
            ("r", "run the task now"),
            ("a", "archive the task"),
            ("d  Delete", "delete the task (asks y/n)"),
            ("c", "cancel an active task"),
            ("Ctrl-L", "redraw and refresh now"),
            ("Ctrl-Z", "suspend (resume with fg)"),
            ("?", "this help"),
            ("q  Ctrl-C", "quit"),
        ]
        var lines: [DashLine] = [DashLine(), DashLine("  Keys", .bold)]
        for (key, action) in keys {
            var line = DashLine("  " + TerminalText.pad(key, to: 22), .bold)
            line.append(action)
            lines.append(line)
        }
        lines.append(DashLine())
        lines.append(
            DashLine(
                "  Data is read every \(GoFormat.duration(state.config.refresh)) and after every move; a Redis error shows on the status line and reading goes on.",
                .dim))
        return lines
    }

    // MARK: Formatting

    /// A selected row: reverse video across the whole width.
    private static func highlighted(_ line: DashLine, width: Int) -> DashLine {
        line.filled(to: width).restyled { style in
            var style = style
            style.reverse = true
            style.dim = false
            return style
        }
    }

    private static func stateColor(_ state: TaskState) -> DashColor? {
        switch state {
        case .active: .cyan
        case .pending: .blue
        case .aggregating: .magenta
        case .scheduled: nil
        case .retry: .yellow
        case .archived: .red
        case .completed: .green
        }
    }

    private static func stateStyle(_ state: TaskState) -> DashStyle {
        DashStyle(foreground: stateColor(state))
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    /// `3m20s ago`.
    package static func ago(_ date: Date, now: Date) -> String {
        let delta = now.timeIntervalSince(date)
        if delta < 0 { return "in " + CLIFormat.roundedDuration(seconds: -delta) }
        return CLIFormat.roundedDuration(seconds: delta) + " ago"
    }

    /// Go's UnixDate in UTC with the distance to now: `Mon Jan  2 15:04:05 UTC 2006 (3m ago)`.
    private static func at(_ date: Date, now: Date) -> String {
        "\(GoFormat.unixDate(date)) (\(ago(date, now: now)))"
    }

    /// `15:04:05 UTC`.
    private static func clock(_ date: Date) -> String {
        let text = GoFormat.unixDate(date)  // Mon Jan  2 15:04:05 UTC 2006
        let parts = text.split(separator: " ")
        return parts.count >= 5 ? "\(parts[3]) UTC" : text
    }

    /// Bytes with decimal units: `512 B`, `1.2 kB`, `3.4 MB`.
    package static func byteCount(_ bytes: Int64) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let units = ["kB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes)
        var unit = -1
        while value >= 999.95 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: "%.1f", value) + " " + units[max(0, unit)]
    }
}
