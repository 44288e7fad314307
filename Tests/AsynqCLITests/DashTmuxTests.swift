import Asynq
import AsynqCLICore
import AsynqTestSupport
import Foundation
import Testing

/// The built `asynq dash` in a real terminal (tmux), against a real redis-server.
@Suite("asynq dash under tmux")
struct DashTmuxTests {
    /// The words of the row whose first word (after the selection marker) is `name`.
    private static func row(_ lines: [String], _ name: String) -> [String]? {
        for line in lines {
            let words = line.split(separator: " ").map(String.init)
            let start = words.first == "▸" ? 1 : 0
            if words.count > start, words[start] == name { return Array(words[start...]) }
        }
        return nil
    }

    /// Task counts in the queues table (active, pending, aggregating, scheduled, retry,
    /// archived, completed), after the name, state and size columns.
    private static func counts(_ lines: [String], _ queue: String) -> [String]? {
        guard let words = row(lines, queue), words.count >= 10 else { return nil }
        return Array(words[3..<10])
    }

    /// Seeds: `busy` with one task a worker is running (so one server shows), `critical`
    /// paused with two pending tasks, `jobs` with a task in each of pending, scheduled, retry,
    /// archived and completed, `low` with an aggregating task.
    private static func seed(_ redis: RedisTestServer) async throws {
        let client = try redis.makeClient()
        let inspector = try redis.makeInspector()
        let now = Date()
        for id in ["r1", "a1", "c1"] {
            try await client.enqueue(
                AsynqTask(type: "email:deliver", payload: #"{"to":"\#(id)@example.com"}"#), .queue("jobs"),
                .taskID(id), .retention(.seconds(3600)))
        }
        let broker = inspector.broker
        for result in try await broker.dequeue(queue: "jobs", count: 3, now: now) {
            let message = try result.get()
            switch message.id {
            case "r1":
                _ = try await broker.run(
                    try broker.retryCall(
                        message, retryAt: now.addingTimeInterval(3600), errorMessage: "smtp: connection refused",
                        isFailure: true, now: now))
            case "a1":
                _ = try await broker.run(try broker.archiveCall(message, errorMessage: "invalid address", now: now))
            default:
                _ = try await broker.run(try broker.markCompleteCall(message, now: now))
            }
        }
        try await client.enqueue(
            AsynqTask(type: "email:deliver", payload: #"{"to":"p1@example.com"}"#), .queue("jobs"), .taskID("p1"))
        try await client.enqueue(
            AsynqTask(type: "report:daily", payload: "monthly"), .queue("jobs"), .taskID("s1"),
            .processIn(.seconds(3600)))
        for index in 1...2 {
            try await client.enqueue(AsynqTask(type: "alert:page", payload: "oncall \(index)"), .queue("critical"))
        }
        try await inspector.pause(queue: "critical")
        try await client.enqueue(AsynqTask(type: "digest:send", payload: "item"), .queue("low"), .group("g1"))
        try await client.enqueue(AsynqTask(type: "slow:work"), .queue("busy"), .taskID("b1"))
        await client.close()
        await inspector.close()
    }

    /// The dashboard ended with status 0, its process is gone, and the terminal is back to
    /// normal: main screen, cursor shown, canonical mode with echo.
    private static func expectRestored(
        _ tmux: TmuxSession, pid: Int32, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let lines = try await tmux.waitForScreen("the exit status") { lines in
            lines.contains { $0.hasPrefix("exit status ") } && lines.contains { $0.hasPrefix("settings: ") }
        }
        #expect(lines.contains("exit status 0"), sourceLocation: sourceLocation)
        let settings = lines.first { $0.hasPrefix("settings: ") }?.split(separator: " ").dropFirst()
        #expect(settings.map(Set.init) == ["icanon", "echo"], sourceLocation: sourceLocation)
        #expect(!lines.contains { $0.contains("asynq dash") }, sourceLocation: sourceLocation)
        #expect(try await tmux.value("#{alternate_on} #{cursor_flag}") == "0 1", sourceLocation: sourceLocation)
        #expect(!processExists(pid), sourceLocation: sourceLocation)
    }

    @Test("queues and counts, drilling down to tasks, an action, a resize, q exits with status 0")
    func dashboard() async throws {
        let executable = try builtAsynqExecutable()
        try await withRedisServer { redis in
            let output = LineLog()
            let stop = StopSignal()
            async let worker = runCLI(
                [
                    "server", "run", "--queues", "busy=1", "--concurrency", "2", "--shutdown-timeout", "1s",
                    "--handle", "slow:=exec sleep 30",
                ] + redis.cliAddress, output: output, stop: stop)
            _ = try await output.waitForLine(containing: "asynq worker ")
            try await Self.seed(redis)

            let tmux = try TmuxSession()
            let inspector = try redis.makeInspector()
            do {
                try await tmux.start(
                    tmux.wrapped(executable, ["dash", "-u", "127.0.0.1:\(redis.port)", "--refresh", "1s"]),
                    width: 120, height: 40, environment: ["LANG": "C.UTF-8", "TERM": "xterm-256color"])
                let pid = try await tmux.programPID()
                try await tmux.waitForValue("#{alternate_on} #{cursor_flag}", "1 0")

                // The queues view: every queue with its counts, the paused flag, the server.
                var lines = try await tmux.waitForScreen("the queues and the busy server") { lines in
                    Self.counts(lines, "busy")?.first == "1"
                        && lines.first { $0.contains("busy:1") }?.split(separator: " ").dropFirst(3).first == "1"
                }
                #expect(lines[0].hasPrefix(" asynq dash · 127.0.0.1:\(redis.port)  Queues"))
                #expect(lines[1].hasPrefix("Tasks 9  active 1 · pending 3 · aggregating 1 · scheduled 1 · retry 1"))
                #expect(Self.row(lines, "busy")?.prefix(3) == ["busy", "run", "1"])
                #expect(Self.counts(lines, "busy") == ["1", "0", "0", "0", "0", "0", "0"])
                #expect(Self.row(lines, "critical")?.prefix(2) == ["critical", "paused"])
                #expect(Self.counts(lines, "critical") == ["0", "2", "0", "0", "0", "0", "0"])
                #expect(Self.counts(lines, "jobs") == ["0", "1", "0", "1", "1", "1", "1"])
                #expect(Self.counts(lines, "low") == ["0", "0", "1", "0", "0", "0", "0"])
                #expect(lines.contains("Servers (1)"))
                let server = try #require(lines.first { $0.contains("busy:1") }?.split(separator: " "))
                // Host, PID, concurrency, busy workers, queues, uptime, status.
                #expect(server.count == 7)
                #expect(server[1] == "\(try #require(try await inspector.servers().first?.pid))")
                #expect(server[2...4] == ["2", "1", "busy:1"])
                #expect(server.last == "active")
                #expect(lines[5].hasPrefix("▸ busy"))

                // Into jobs: it opens on its first state with tasks, pending.
                try await tmux.sendKeys("Down", "Down", "Enter")
                lines = try await tmux.waitForScreen("the pending tasks of jobs") { lines in
                    lines.contains { $0.contains("[Pending 1]") } && Self.row(lines, "p1") != nil
                }
                #expect(lines[0].contains("Queues › jobs › pending"))
                #expect(Self.row(lines, "p1") == ["p1", "email:deliver", #"{"to":"p1@example.com"}"#, "0/25"])

                // Right to the retry tab (aggregating, scheduled, retry).
                try await tmux.sendKeys("Right", "Right", "Right")
                lines = try await tmux.waitForScreen("the retry tasks of jobs") { lines in
                    lines.contains { $0.contains("[Retry 1]") } && Self.row(lines, "r1") != nil
                }
                let retry = try #require(Self.row(lines, "r1"))
                #expect(retry.prefix(3) == ["r1", "email:deliver", #"{"to":"r1@example.com"}"#])
                #expect(retry.suffix(3) == ["smtp:", "connection", "refused"])
                #expect(lines.contains("  Page 1 of 1 · retry tasks 1–1 of 1"))

                // One task's details, and back.
                try await tmux.sendKeys("Enter")
                lines = try await tmux.waitForScreen("the details of r1") { lines in
                    lines.contains("  Last error      smtp: connection refused")
                }
                #expect(lines.contains("  ID              r1"))
                #expect(lines.contains("  State           retry"))
                #expect(lines.contains("  Retried         1 of 25"))
                #expect(lines.contains("    {\"to\":\"r1@example.com\"}"))
                try await tmux.sendKeys("Escape")
                try await tmux.waitForScreen("the retry list again") { lines in Self.row(lines, "r1") != nil }

                // Archive it: the list and the counts follow.
                try await tmux.sendKeys("a")
                lines = try await tmux.waitForScreen("r1 archived") { lines in
                    lines.contains("Task r1 archived") && lines.contains { $0.contains("[Retry 0]") }
                }
                #expect(lines.contains { $0.contains(" Archived 2 ") })
                #expect(lines.contains { $0.contains("No retry tasks in queue \"jobs\"") })
                #expect(try await inspector.taskInfo(queue: "jobs", id: "r1").state == .archived)

                // Delete the completed task, after a y/n question.
                try await tmux.sendKeys("7")
                try await tmux.waitForScreen("the completed tasks") { lines in Self.row(lines, "c1") != nil }
                try await tmux.sendKeys("d")
                try await tmux.waitForScreen("the question") { lines in
                    lines.last { !$0.isEmpty }?.hasPrefix(#"Delete completed task c1 from queue "jobs"? [y/N]"#) == true
                }
                try await tmux.sendKeys("y")
                try await tmux.waitForScreen("c1 deleted") { lines in lines.contains("Task c1 deleted") }
                await #expect(throws: AsynqError.self) { try await inspector.taskInfo(queue: "jobs", id: "c1") }

                // Back to the queues; resume the paused queue.
                try await tmux.sendKeys("Escape", "Up")
                try await tmux.waitForScreen("critical selected") { lines in
                    lines.contains { $0.hasPrefix("▸ critical") }
                }
                try await tmux.sendKeys("P")
                lines = try await tmux.waitForScreen("critical resumed") { lines in
                    Self.row(lines, "critical")?.dropFirst().first == "run"
                }
                #expect(lines.contains { $0.contains(#"Queue "critical" resumed"#) })
                #expect(try await inspector.queueInfo("critical").paused == false)

                // Help, then a resize to 80x24: everything still fits.
                try await tmux.sendKeys("?")
                try await tmux.waitForScreen("the help") { lines in lines.contains { $0.hasPrefix("  q  Ctrl-C") } }
                try await tmux.sendKeys("Escape")
                try await tmux.run(["resize-window", "-t", tmux.name, "-x", "80", "-y", "24"])
                lines = try await tmux.waitForScreen("the 80x24 layout") { lines in
                    lines.contains { $0.split(separator: " ").prefix(5) == ["Queue", "State", "Size", "Act", "Pend"] }
                }
                #expect(Self.counts(lines, "jobs") == ["0", "1", "0", "1", "0", "2", "0"])
                for line in lines { #expect(TerminalText.width(line) <= 80, "\(line)") }

                // q: the dashboard ends with status 0 and the terminal is as it was.
                try await tmux.sendKeys("q")
                try await Self.expectRestored(tmux, pid: pid)
            } catch {
                await tmux.close()
                await inspector.close()
                stop.fire()
                _ = await worker
                throw error
            }
            await tmux.close()
            await inspector.close()
            stop.fire()
            #expect(await worker.status == 0)
        }
    }

    @Test(
        "Redis going away shows on the status line; the dashboard carries on when it is back; SIGTERM restores the terminal"
    )
    func outage() async throws {
        let executable = try builtAsynqExecutable()
        try await withRedisServer { redis in
            let client = try redis.makeClient()
            try await client.enqueue(AsynqTask(type: "before", payload: "x"), .queue("before"))
            await client.close()
            let tmux = try TmuxSession()
            do {
                try await tmux.start(
                    tmux.wrapped(executable, ["monitor", "-u", "127.0.0.1:\(redis.port)", "--refresh", "1s"]),
                    width: 100, height: 30, environment: ["LANG": "C.UTF-8", "TERM": "xterm-256color"])
                let pid = try await tmux.programPID()
                try await tmux.waitForScreen("the queue") { lines in Self.row(lines, "before") != nil }

                await redis.kill()
                var lines = try await tmux.waitForScreen("the error on the status line") { lines in
                    lines.contains { $0.hasPrefix("✖ redis: ") }
                }
                #expect(lines[0].contains("retrying every 1s"))
                #expect(Self.row(lines, "before") != nil)  // the last data stays
                // Keys still work while Redis is away.
                try await tmux.sendKeys("?")
                try await tmux.waitForScreen("the help") { lines in lines.contains { $0.hasPrefix("  q  Ctrl-C") } }
                try await tmux.sendKeys("Escape")

                try await redis.restart()
                let again = try redis.makeClient()
                try await again.enqueue(AsynqTask(type: "after", payload: "y"), .queue("after"))
                await again.close()
                lines = try await tmux.waitForScreen("the new data, without the error") { lines in
                    Self.row(lines, "after") != nil && !lines.contains { $0.hasPrefix("✖") }
                }
                #expect(Self.row(lines, "before") == nil)

                _ = kill(pid, SIGTERM)
                try await Self.expectRestored(tmux, pid: pid)
            } catch {
                await tmux.close()
                throw error
            }
            await tmux.close()
        }
    }

    @Test("dash refuses a refresh under 1s and a missing terminal")
    func refusals() async {
        let short = await runCLI(["dash", "--refresh", "500ms", "-u", "127.0.0.1:1"])
        #expect(short.status == 1)
        #expect(short.errorLines == ["--refresh cannot be less than 1s"])
        let bad = await runCLI(["monitor", "--refresh", "soon"])
        #expect(bad.errorLines == [#"invalid duration "soon" for --refresh (examples: 30s, 5m, 1h30m)"#])
        let noTerminal = await runCLI(["dash", "-u", "127.0.0.1:1"])
        #expect(noTerminal.status == 1)
        #expect(noTerminal.error.hasPrefix("asynq dash needs a terminal"))
    }
}
