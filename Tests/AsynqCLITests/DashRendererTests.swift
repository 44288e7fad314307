import Asynq
import AsynqCLICore
import Foundation
import Testing

@Suite("asynq dash: rendering")
struct DashRendererTests {
    /// Every frame has exactly `height` lines, none wider than the terminal.
    private func expectFits(_ state: DashState, sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = DashRenderer.render(state, now: DashTestData.now)
        #expect(lines.count == state.size.height, sourceLocation: sourceLocation)
        for line in lines {
            #expect(line.width <= state.size.width, "\(line.text)", sourceLocation: sourceLocation)
        }
    }

    /// The words of the row that starts with `name` (after the selection marker).
    private func row(_ lines: [String], _ name: String) -> [String]? {
        for line in lines {
            let words = line.split(separator: " ").map(String.init)
            let start = words.first == "▸" || words.first == ">" ? 1 : 0
            if words.count > start, words[start] == name { return Array(words[start...]) }
        }
        return nil
    }

    @Test("queues view at 120x40: every column, the summary and the servers")
    func queuesWide() throws {
        let state = DashTestData.state()
        expectFits(state)
        let lines = DashTestData.text(state)
        #expect(lines[0].hasPrefix(" asynq dash · 127.0.0.1:6379  Queues"))
        #expect(lines[0].hasSuffix("every 8s · 15:06:40 UTC "))
        #expect(
            lines[1]
                == "Tasks 56  active 1 · pending 42 · aggregating 2 · scheduled 3 · retry 2 · archived 1 · completed 5")
        #expect(
            lines[2].contains(
                "processed 130 · failed 4 · error rate 3.08% · 3 queues (1 paused) · 1 server, 1/10 workers busy"))
        #expect(
            lines[4].split(separator: " ") == [
                "Queue", "State", "Size", "Active", "Pending", "Aggregating", "Scheduled", "Retry", "Archived",
                "Completed", "Latency", "Memory", "Processed", "Failed",
            ])
        #expect(lines[5].hasPrefix("▸ critical"))
        #expect(
            row(lines, "critical") == [
                "critical", "paused", "2", "0", "2", "0", "0", "0", "0", "0", "0s", "432", "B", "0", "0",
            ])
        #expect(
            row(lines, "default") == [
                "default", "run", "52", "1", "40", "0", "3", "2", "1", "5", "3s", "12.3", "kB", "130", "4",
            ])
        #expect(row(lines, "low")?.prefix(6) == ["low", "run", "2", "0", "0", "2"])
        #expect(lines.contains("Servers (1)"))
        #expect(
            row(lines, "worker-host") == [
                "worker-host", "4242", "10", "1", "critical:6", "default:3", "low:1", "1h2m3s", "active",
            ])
        #expect(lines[39].hasPrefix(" ↑↓ select  ⏎ open  P pause/resume  ? help  q quit"))
        #expect(lines[39].hasSuffix("updated 0s ago"))
    }

    @Test("queues view at 80x24: short headers, nothing cut")
    func queuesNarrow() {
        let state = DashTestData.state(width: 80, height: 24)
        expectFits(state)
        let lines = DashTestData.text(state)
        #expect(lines[1] == "Tasks 56  act 1 · pend 42 · aggr 2 · sched 3 · retry 2 · arch 1 · done 5")
        #expect(
            lines[4].split(separator: " ").prefix(10) == [
                "Queue", "State", "Size", "Act", "Pend", "Aggr", "Sched", "Retry", "Arch", "Done",
            ])
        #expect(row(lines, "default")?.prefix(10) == ["default", "run", "52", "1", "40", "0", "3", "2", "1", "5"])
        #expect(lines[23].contains("q quit"))
    }

    @Test("many queues scroll with the selection; many servers are cut with a count")
    func scrolling() {
        var state = DashTestData.state(width: 80, height: 24)
        var snapshot = DashSnapshot(plan: DashFetchPlan(overview: true), fetchedAt: DashTestData.now)
        snapshot.queues = (0..<40).map {
            QueueInfo(queue: "queue-\($0 < 10 ? "0" : "")\($0)", pending: $0, timestamp: DashTestData.now)
        }
        snapshot.servers = (0..<10).map {
            ServerInfo(
                id: "s\($0)", host: "host\($0)", pid: $0, concurrency: 1, queues: [:], strictPriority: false,
                started: DashTestData.now, status: "active")
        }
        state.apply(snapshot)
        expectFits(state)
        var lines = DashTestData.text(state)
        #expect(lines[5].hasPrefix("▸ queue-00"))
        #expect(lines.contains { $0.hasPrefix("  queues 1–") && $0.hasSuffix(" of 40") })
        #expect(lines.contains("Servers (10)"))
        #expect(lines.contains { $0.contains("more") })
        state.press(.end)
        expectFits(state)
        lines = DashTestData.text(state)
        #expect(lines.contains { $0.hasPrefix("▸ queue-39") })
        #expect(!lines.contains { $0.contains("queue-00") })
    }

    @Test("queue view: tab bar, task table, page line; the selected row is marked")
    func queueView() {
        var state = DashTestData.state()
        state.press(.down, .enter)
        #expect(state.queueScreen?.state == .active)
        state.press(.character("5"))
        // Before the listing arrives.
        #expect(DashTestData.text(state).contains("  Loading…"))
        DashTestData.answer(&state, tasks: DashTestData.retryTasks(count: 2))
        state.press(.down)
        expectFits(state)
        let lines = DashTestData.text(state)
        #expect(lines[0].contains("Queues › default › retry"))
        #expect(
            lines[1].hasPrefix("default  running · size 52 · latency 3s · memory 12.3 kB · processed 130 · failed 4"))
        #expect(lines[2] == " Active 1  Pending 40  Aggregating 0  Scheduled 3 [Retry 2] Archived 1  Completed 5 ")
        #expect(
            lines[4].split(separator: " ") == ["ID", "Type", "Payload", "Retried", "Next", "Retry", "Last", "Error"])
        #expect(
            row(lines, "retry-1") == [
                "retry-1", "email:deliver", #"{"to":"user1@example.com"}"#, "1/25", "in", "3m20s", "smtp:",
                "connection",
                "refused",
            ])
        #expect(lines[6].hasPrefix("▸ retry-1"))
        #expect(lines[38] == "  Page 1 of 1 · retry tasks 1–2 of 2")
        #expect(lines[39].hasPrefix(" ←→ state  ↑↓ select  n/p page  ⏎ details  r run  a archive  d delete  esc back"))
    }

    @Test("queue view at 80x24 with UUID task IDs and long payloads stays within the width")
    func queueViewNarrow() {
        var state = DashTestData.state(width: 80, height: 24)
        state.press(.down, .enter, .character("5"))
        let tasks = (0..<30).map { index in
            TaskInfo(
                id: UUID().uuidString.lowercased(), queue: "default", type: "report:generate:monthly",
                payload: Data(String(repeating: "payload \(index) ", count: 20).utf8), state: .retry, retried: 3,
                lastError: String(repeating: "a very long error message ", count: 10), nextProcessAt: DashTestData.now)
        }
        DashTestData.answer(&state, tasks: Array(tasks.prefix(state.pageSize)))
        expectFits(state)
        let lines = DashTestData.text(state)
        #expect(state.pageSize == 17)
        #expect(lines[4].split(separator: " ").first == "ID")
        #expect(lines.filter { $0.contains("report:gen") }.count == 17)
        #expect(lines.contains { $0.contains("…") })
        #expect(lines[23].contains("esc back"))
    }

    @Test("every task state has its own columns")
    func stateColumns() {
        let expected: [TaskState: [String]] = [
            .active: ["ID", "Type", "Payload", "Retried", "Note"],
            .pending: ["ID", "Type", "Payload", "Retried"],
            .scheduled: ["ID", "Type", "Payload", "Retried", "Process", "In"],
            .archived: ["ID", "Type", "Payload", "Retried", "Last", "Failed", "Last", "Error"],
            .completed: ["ID", "Type", "Payload", "Completed", "Result"],
        ]
        for (taskState, header) in expected {
            var state = DashTestData.state()
            state.press(.down, .enter)
            state.press(.character(Character(String((DashState.stateOrder.firstIndex(of: taskState) ?? 0) + 1))))
            let task = TaskInfo(
                id: "t1", queue: "default", type: "job", payload: Data([0, 1, 2]), state: taskState,
                lastError: "boom", lastFailedAt: DashTestData.now,
                nextProcessAt: DashTestData.now.addingTimeInterval(90),
                isOrphaned: true, completedAt: DashTestData.now.addingTimeInterval(-30), result: Data("ok".utf8))
            DashTestData.answer(&state, tasks: [task])
            let lines = DashTestData.text(state)
            #expect(lines[4].split(separator: " ").map(String.init) == header, "\(taskState)")
            let cells = row(lines, "t1") ?? []
            #expect(cells.prefix(5) == ["t1", "job", "binary,", "3", "bytes"], "\(taskState)")
            switch taskState {
            case .active: #expect(cells.last == "orphaned")
            case .scheduled: #expect(cells.suffix(2) == ["in", "1m30s"])
            case .archived: #expect(cells.suffix(4) == ["0/25", "0s", "ago", "boom"])
            case .completed: #expect(cells.suffix(3) == ["30s", "ago", "ok"])
            default: break
            }
        }
    }

    @Test("aggregating: groups first, then a group's tasks")
    func aggregating() {
        var state = DashTestData.state()
        state.press(.down, .down, .enter)
        #expect(state.queueScreen?.state == .aggregating)
        DashTestData.answer(&state, groups: [GroupInfo(group: "g1", size: 1), GroupInfo(group: "g2", size: 1)])
        var lines = DashTestData.text(state)
        #expect(lines[4].split(separator: " ") == ["Group", "Size"])
        #expect(lines[5].split(separator: " ") == ["▸", "g1", "1"])
        #expect(lines[38] == "  2 groups · ⏎ lists a group's tasks")
        state.press(.down, .enter)
        #expect(state.fetchPlan.tasks?.group == "g2")
        let task = TaskInfo(id: "a1", queue: "low", type: "agg", state: .aggregating, group: "g2")
        DashTestData.answer(
            &state, tasks: [task], groups: [GroupInfo(group: "g1", size: 1), GroupInfo(group: "g2", size: 1)])
        lines = DashTestData.text(state)
        #expect(lines[0].contains("low › aggregating › group g2"))
        #expect(row(lines, "a1") == ["a1", "agg", "0/25", "g2"])
    }

    @Test("task view: fields, payload, scrolling, a vanished task")
    func taskView() {
        var state = DashTestData.state(width: 80, height: 24)
        state.press(.down, .enter, .character("5"))
        DashTestData.answer(&state, tasks: DashTestData.retryTasks(count: 3))
        state.press(.down, .enter)
        #expect(state.taskScreen?.id == "retry-1")
        var task = DashTestData.retryTasks(count: 2)[1]
        task.headers = ["trace": "abc"]
        task.payload = Data((1...40).map { "line \($0)" }.joined(separator: "\n").utf8)
        DashTestData.answer(&state, task: task)
        expectFits(state)
        var lines = DashTestData.text(state)
        #expect(lines[0].contains("Queues › default › retry › retry-1"))
        #expect(lines.contains("  ID              retry-1"))
        #expect(lines.contains("  Retried         1 of 25"))
        #expect(lines.contains("  Next process    Sun Jun 15 15:10:00 UTC 2025 (in 3m20s)"))
        #expect(lines.contains("  Last error      smtp: connection refused"))
        #expect(lines.contains("  Header          trace=abc"))
        #expect(lines.contains("  Payload (310 bytes)"))
        #expect(lines[22].contains("more lines"))
        state.press(.end)
        lines = DashTestData.text(state)
        #expect(lines[22] == "    line 40")
        state.press(.home)
        #expect(DashTestData.text(state)[2] == "  ID              retry-1")

        // Binary payloads are dumped in hex.
        task.payload = Data([0xFF, 0x00, 0x41, 0x42])
        DashTestData.answer(&state, task: task)
        let hex = "ff 00 41 42" + String(repeating: " ", count: 47 - 11)
        #expect(DashTestData.text(state).contains("    0000  \(hex)  ..AB"))

        DashTestData.answer(&state, task: nil)
        lines = DashTestData.text(state)
        #expect(lines[2] == "  Task retry-1 no longer exists in queue \"default\".")
    }

    @Test("errors, messages and confirmations on the status line")
    func statusLine() {
        var state = DashTestData.state(width: 100, height: 30)
        state.fetchFailed(
            "redis: could not connect to 127.0.0.1:6390: Connection errors: SingleConnectionFailure(target: [IPv4]127.0.0.1/127.0.0.1:6390, error: connection reset (error set): Connection refused) (errno: 111))"
        )
        var lines = DashTestData.text(state)
        #expect(lines[29] == "✖ redis: could not connect to 127.0.0.1:6390: connection refused")
        #expect(lines[0].contains("retrying every 2s"))
        // The data read before stays on screen.
        #expect(row(lines, "default") != nil)

        state.press(.down, .character("P"))
        let effects = state.finished(.pause(queue: "default"), error: nil, now: DashTestData.now)
        #expect(effects == [.fetch])
        #expect(DashTestData.text(state)[29] == #"Queue "default" paused"#)
        // Messages fade.
        #expect(!DashRenderer.render(state, now: DashTestData.now.addingTimeInterval(11))[29].text.contains("paused"))

        // A slow fetch shows in the title bar, a quick one does not.
        var slow = DashTestData.state()
        slow.fetchingSince = DashTestData.now
        #expect(DashTestData.text(slow)[0].hasSuffix("every 8s · 15:06:40 UTC "))
        slow.fetchingSince = DashTestData.now.addingTimeInterval(-1.5)
        #expect(DashTestData.text(slow)[0].hasSuffix("refreshing… · 15:06:40 UTC "))

        // Never-loaded data with an error says so in the body.
        var fresh = DashState(config: DashTestData.config(), size: DashSize(width: 80, height: 24))
        #expect(DashTestData.text(fresh)[2] == "Loading…")
        fresh.fetchFailed("redis: connection refused")
        lines = DashTestData.text(fresh)
        #expect(lines[2] == "Cannot read from 127.0.0.1:6379: redis: connection refused")
    }

    @Test("help, a terminal too small, ASCII mode")
    func helpSmallAscii() {
        var state = DashTestData.state(width: 80, height: 24)
        state.press(.character("?"))
        expectFits(state)
        let help = DashTestData.text(state)
        #expect(help.contains { $0.hasPrefix("  q  Ctrl-C") && $0.hasSuffix("quit") })
        #expect(help[23].hasPrefix(" esc close  q quit"))

        let small = DashTestData.state(width: 30, height: 8)
        expectFits(small)
        #expect(DashTestData.text(small)[0] == "Terminal too small (30x8)")

        var ascii = DashTestData.state(width: 80, height: 24, unicode: false)
        for keys in [[DashKey](), [.down, .enter], [.character("?")]] {
            for key in keys { ascii.press(key) }
            expectFits(ascii)
            for line in DashTestData.text(ascii) { #expect(line.allSatisfy { $0.isASCII }, "\(line)") }
        }
    }

    @Test("wide and hostile text: CJK, emoji and control characters keep rows within the width")
    func hostileText() {
        var state = DashTestData.state(width: 60, height: 20)
        var snapshot = DashSnapshot(plan: DashFetchPlan(overview: true), fetchedAt: DashTestData.now)
        snapshot.queues = [
            QueueInfo(queue: "队列-メール-큐-🚀🚀🚀-with-a-very-long-name", pending: 1, timestamp: DashTestData.now),
            QueueInfo(queue: "evil\u{1B}[2Jname\n\u{202E}", pending: 1, timestamp: DashTestData.now),
        ]
        state.apply(snapshot)
        expectFits(state)
        let lines = DashTestData.text(state)
        #expect(!lines.joined().contains("\u{1B}"))
        #expect(!lines.joined().contains("\u{202E}"))
        #expect(lines.contains { $0.contains("evil\u{FFFD}[2J") })
        state.press(.enter)
        let task = TaskInfo(
            id: "t", queue: state.queueScreen?.queue ?? "", type: "絵文字😀", payload: Data("日本語のペイロード\t\u{7}".utf8),
            state: .pending)
        DashTestData.answer(&state, tasks: [task])
        expectFits(state)
        state.press(.enter)
        DashTestData.answer(&state, task: task)
        expectFits(state)
    }

    @Test("terminal text: widths, truncation, wrapping, sanitizing")
    func terminalText() {
        #expect(TerminalText.width("abc") == 3)
        #expect(TerminalText.width("日本") == 4)
        #expect(TerminalText.width("e\u{301}") == 1)
        #expect(TerminalText.width("🚀") == 2)
        #expect(TerminalText.width("❤️") == 2)
        #expect(TerminalText.width("🇫🇷") == 2)
        #expect(TerminalText.truncate("abcdef", to: 4, ellipsis: "…") == "abc…")
        #expect(TerminalText.truncate("日本語", to: 4, ellipsis: "…") == "日…")
        #expect(TerminalText.truncate("abc", to: 3, ellipsis: "…") == "abc")
        #expect(TerminalText.wrap("one two three four", width: 9) == ["one two", "three", "four"])
        #expect(TerminalText.wrap("abcdefghij", width: 4) == ["abcd", "efgh", "ij"])
        #expect(TerminalText.sanitize("a\tb\n\nc\u{0}", ascii: false) == "a b c\u{FFFD}")
        #expect(TerminalText.sanitize("héllo", ascii: true) == "h?llo")
        #expect(DashRenderer.byteCount(999) == "999 B")
        #expect(DashRenderer.byteCount(1_234) == "1.2 kB")
        #expect(DashRenderer.byteCount(999_999) == "1.0 MB")
        #expect(DashRenderer.preview(Data(#"{"a": 1,\#n"b": 2}"#.utf8), ascii: false) == #"{"a": 1, "b": 2}"#)
        #expect(DashRenderer.preview(Data([0xC3]), ascii: false) == "binary, 1 byte")
    }

    @Test("tables: roomy, tight, cut down, columns dropped by priority")
    func tables() {
        let table = DashTable(
            columns: [
                DashColumn("Name", flexible: true, minWidth: 6, preferredMaxWidth: 20),
                DashColumn("Count", short: "N", alignRight: true),
                DashColumn("Extra", dropPriority: 1),
            ],
            rows: [["a-rather-long-name", "12345", "xyz"], ["b", "1", ""]])
        func render(_ width: Int) -> [String] {
            let layout = table.layout(width: width)
            return [table.headerLine(layout, style: .plain, ellipsis: "…").text]
                + (0..<2).map { table.rowLine($0, layout, ellipsis: "…").text }
        }
        #expect(
            render(40) == [
                "Name                Count  Extra", "a-rather-long-name  12345  xyz", "b                       1",
            ])
        #expect(
            render(30) == [
                "Name               Count Extra", "a-rather-long-name 12345 xyz", "b                      1",
            ])
        #expect(render(20) == ["Name         N Extra", "a-rathe… 12345 xyz", "b            1"])
        #expect(render(12) == ["Name       N", "a-rat… 12345", "b          1"])
    }

    @Test("the screen encoder rewrites only changed rows and never erases a full row's last cell")
    func encoder() {
        var encoder = DashScreenEncoder()
        let first = encoder.frame([DashLine("abc"), DashLine("xyz", .bold)], width: 3, full: true)
        #expect(first == "\u{1B}[0m\u{1B}[2J\u{1B}[1;1Habc\u{1B}[0m\u{1B}[2;1H\u{1B}[1mxyz\u{1B}[0m\u{1B}[0m")
        let second = encoder.frame([DashLine("abc"), DashLine("xy")], width: 3, full: false)
        #expect(second == "\u{1B}[2;1Hxy\u{1B}[0m\u{1B}[K")
        #expect(encoder.frame([DashLine("abc"), DashLine("xy")], width: 3, full: false).isEmpty)
    }
}
