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
