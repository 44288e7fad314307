import Asynq
import AsynqCLICore
import AsynqRedis
import AsynqTestSupport
import Foundation
import Synchronization

/// What one in-process run of the CLI printed and returned.
struct CLIResult {
    var status: Int32
    var output: String
    var error: String

    var outputLines: [String] {
        output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
    var errorLines: [String] { error.split(separator: "\n").map(String.init) }
}

/// Collects a stream's text and lets a test wait for a line (event-driven: no polling).
final class LineLog: Sendable {
    private struct Waiter {
        var matches: @Sendable (String) -> Bool
        var continuation: CheckedContinuation<String?, Never>
    }

    private struct State {
        var text = ""
        var partial = ""
        var lines: [String] = []
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    var text: String { state.withLock { $0.text } }

    func append(_ text: String) {
        let resumed = state.withLock { state -> [(CheckedContinuation<String?, Never>, String)] in
            state.text += text
            state.partial += text
            var resumed: [(CheckedContinuation<String?, Never>, String)] = []
            while let newline = state.partial.firstIndex(of: "\n") {
                let line = String(state.partial[..<newline])
                state.partial.removeSubrange(...newline)
                state.lines.append(line)
                for (id, waiter) in state.waiters where waiter.matches(line) {
                    resumed.append((waiter.continuation, line))
                    state.waiters.removeValue(forKey: id)
                }
            }
            return resumed
        }
        for (continuation, line) in resumed { continuation.resume(returning: line) }
    }

    /// The first line (already printed or to come) that contains every one of `parts`.
    func waitForLine(
        containing parts: String..., timeout: Duration = .seconds(30)
    ) async throws
        -> String
    {
        let matches: @Sendable (String) -> Bool = { line in parts.allSatisfy { line.contains($0) } }
        let found = await withTaskGroup(of: String?.self) { group in
            group.addTask { await self.wait(matches) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let found else {
            throw CLITestError("no line containing \(parts) within \(timeout); output so far:\n\(text)")
        }
        return found
    }

    private func wait(_ matches: @escaping @Sendable (String) -> Bool) async -> String? {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                let existing = state.withLock { state -> String?? in
                    if let line = state.lines.first(where: matches) { return .some(line) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = Waiter(matches: matches, continuation: continuation)
                    return nil
                }
                if let existing { continuation.resume(returning: existing) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: nil)
        }
    }
}

struct CLITestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A one-shot event a test fires to stop a long-running command.
final class StopSignal: Sendable {
    private struct State {
        var fired = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    func fire() {
        let waiters = state.withLock { state in
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once fired, or when the waiting task is cancelled. The cancellation matters: when
    /// a test fails before it fires the signal, leaving its scope cancels the command's task,
    /// and the command's service group can only end once this wait has returned (a wait that
    /// ignored cancellation kept such a failed test, and with it the whole test run, hanging).
    func wait() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Runs the CLI in-process with its own console.
func runCLI(
    _ arguments: [String],
    environment: [String: String] = ["PATH": "/usr/local/bin:/usr/bin:/bin"],
    output: LineLog = LineLog(),
    errors: LineLog = LineLog(),
    stdin: Data = Data(),
    isInputTerminal: Bool = false,
    answer: String? = nil,
    stop: StopSignal? = nil
) async -> CLIResult {
    var shutdown: (@Sendable () async -> Void)?
    if let stop {
        shutdown = { await stop.wait() }
    }
    let readInput: @Sendable () throws -> Data = { stdin }
    let readLine: @Sendable () -> String? = { answer }
    let console = Console(
        standardOutput: { output.append($0) },
        standardError: { errors.append($0) },
        readStandardInput: readInput,
        readLine: readLine,
        isOutputTerminal: false,
        isInputTerminal: isInputTerminal,
        environment: environment,
        shutdownRequested: shutdown
    )
    let status = await Console.$current.withValue(console) { await AsynqCLI.run(arguments) }
    return CLIResult(status: status, output: output.text, error: errors.text)
}

extension RedisTestServer {
    /// `-u 127.0.0.1:<port>` for the CLI.
    var cliAddress: [String] { ["-u", "127.0.0.1:\(port)"] }

    func makeClient() throws -> AsynqClient {
        try AsynqClient(redis: .standalone(host: "127.0.0.1", port: port))
    }

    func makeInspector() throws -> AsynqInspector {
        try AsynqInspector(redis: .standalone(host: "127.0.0.1", port: port))
    }
}

/// Whether a process with this PID exists.
func processExists(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
}

/// The `asynq` executable built with the tests: `swift build --build-tests` puts every product in
/// the directory of the test bundle (on macOS the bundle's executable sits three levels below
/// it), so it is looked for next to the running test executable and in its parents.
/// `ASYNQ_CLI_EXECUTABLE` overrides the search.
func builtAsynqExecutable() throws -> String {
    let environment = ProcessInfo.processInfo.environment
    if let path = environment["ASYNQ_CLI_EXECUTABLE"], !path.isEmpty { return path }
    let start =
        Bundle.main.executableURL?.resolvingSymlinksInPath()
        ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var directory = start.deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("asynq").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw CLITestError(
        "the asynq executable was not found near \(start.path); build it with 'swift build --build-tests' "
            + "or set ASYNQ_CLI_EXECUTABLE")
}

/// A private tmux server (its own socket in a temporary directory, no user configuration) with
/// one session running a command, for end-to-end tests of the full-screen dashboard.
struct TmuxSession {
    let socket: String
    let directory: String
    let name = "dash"

    /// A session to be started in a new temporary directory.
    init() throws {
        directory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("asynq-tmux-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/tmux.sock"
    }

    /// Starts `command` (a shell command line) in a detached session of `width`x`height`.
    func start(_ command: String, width: Int, height: Int, environment: [String: String] = [:]) async throws {
        let session = self
        var arguments = ["new-session", "-d", "-s", session.name, "-x", String(width), "-y", String(height)]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["-e", "\(key)=\(value)"] }
        arguments.append(command)
        try await session.run(arguments)
    }

    /// A command line for ``start(_:width:height:environment:)`` that runs `program` with
    /// `arguments` and, once it ended, prints `exit status N` and the terminal's `icanon` and
    /// `echo` settings, then waits: the pane stays to be looked at. The program's PID is
    /// written to ``pidFile`` (it is exec'd by a shell that wrote its own PID).
    func wrapped(_ program: String, _ arguments: [String]) -> String {
        let command = ([program] + arguments).map(Self.quote).joined(separator: " ")
        let inner = "echo $$ > \(Self.quote(pidFile)); exec \(command)"
        return "sh -c \(Self.quote(inner)); echo \"exit status $?\"; "
            + "echo \"settings: $(stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' ')\"; "
            + "exec sleep 600"
    }

    var pidFile: String { directory + "/program.pid" }

    /// The PID written by a ``wrapped(_:_:)`` command, once it is there.
    func programPID(timeout: Duration = .seconds(20)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return pid
            }
            guard ContinuousClock.now < deadline else { throw CLITestError("no PID in \(pidFile)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        let result = try await ExternalCommand.runChecked(
            "tmux", ["-u", "-f", "/dev/null", "-S", socket] + arguments,
            installHint: "install it with: apt-get install tmux")
        return result.standardOutput
    }

    /// The screen as text, one string per row (trailing spaces removed by tmux).
    func screen() async throws -> [String] {
        try await run(["capture-pane", "-p", "-t", name])
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    func sendKeys(_ keys: String...) async throws {
        try await run(["send-keys", "-t", name] + keys)
    }

    /// A tmux format value of the pane (`#{pane_pid}`, `#{pane_dead_status}`, …).
    func value(_ format: String) async throws -> String {
        try await run(["display-message", "-p", "-t", name, format])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Polls the screen until `condition` holds, or throws with the last screen.
    @discardableResult
    func waitForScreen(
        _ what: String, timeout: Duration = .seconds(20), _ condition: ([String]) -> Bool
    ) async throws
        -> [String]
    {
        let deadline = ContinuousClock.now + timeout
        var lines: [String] = []
        while true {
            lines = try await screen()
            if condition(lines) { return lines }
            guard ContinuousClock.now < deadline else {
                throw CLITestError(
                    "timed out after \(timeout) waiting for \(what); the screen:\n" + lines.joined(separator: "\n"))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Polls a format value until it equals `expected`.
    func waitForValue(_ format: String, _ expected: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while true {
            last = try await value(format)
            if last == expected { return }
            guard ContinuousClock.now < deadline else {
                throw CLITestError("timed out waiting for \(format) to be \(expected); it is \(last)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Stops the tmux server (SIGHUP to what still runs in it) and removes the directory.
    func close() async {
        _ = try? await ExternalCommand.run("tmux", ["-f", "/dev/null", "-S", socket, "kill-server"])
        try? FileManager.default.removeItem(atPath: directory)
    }
}
