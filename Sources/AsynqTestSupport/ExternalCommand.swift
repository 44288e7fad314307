import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a finished command printed and how it ended.
public struct CommandResult: Sendable {
    public var status: ProcessExitStatus
    public var standardOutput: String
    public var standardError: String
    /// True when it was killed because it ran past its timeout.
    public var timedOut: Bool

    public var succeeded: Bool { status == .exited(0) }

    /// `standardOutput` without leading and trailing white space.
    public var output: String {
        var text = Substring(standardOutput)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}

/// Runs short helper commands (openssl, redis-cli) without blocking the concurrency pool: the
/// command's output goes to unlinked temporary files, and `waitpid` runs on a dedicated thread pool.
public enum ExternalCommand {
    /// Runs `executable` (a name on `PATH` or a path) with `arguments`, stdin from /dev/null.
    /// A command still running after `timeout` is killed (`timedOut` is then true).
    public static func run(
        _ executable: String,
        _ arguments: [String],
        timeout: Duration = .seconds(30),
        installHint: String? = nil
    ) async throws -> CommandResult {
        guard let path = Posix.findExecutable(executable) else {
            var message = "\(executable) not found on PATH"
            if let installHint { message += ": \(installHint)" }
            throw TestSupportError(.executableNotFound, message)
        }
        let stdin = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if stdin < 0 { throw Posix.systemError("open /dev/null") }
        defer { Posix.closeDescriptor(stdin) }
        let stdout = try temporaryFile()
        defer { Posix.closeDescriptor(stdout) }
        let stderr = try temporaryFile()
        defer { Posix.closeDescriptor(stderr) }

        let pid = try Posix.spawn(
            path: path,
            arguments: [executable] + arguments,
            stdin: stdin,
            stdout: stdout,
            stderr: stderr,
            newProcessGroup: false
        )
        // `exited` is set before the PID can be reused, so the timer never signals another process.
        let flags = CommandFlags()
        let timer = Task {
            try? await Task.sleep(for: timeout)
            if Task.isCancelled { return }
            flags.state.withLock { state in
                if !state.exited {
                    state.timedOut = true
                    _ = posixKill(pid, SIGKILL)
                }
            }
        }
        let waitStatus = await Task {
            try? await BlockingPool.shared.runIfActive { () -> Int32? in
                var status: Int32 = 0
                while true {
                    // WNOWAIT: learn of the exit but leave the zombie, so the PID stays ours
                    // until `exited` is set.
                    var info = siginfo_t()
                    let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
                    if result < 0, errno == EINTR { continue }
                    break
                }
                flags.state.withLock { $0.exited = true }
                while true {
                    let result = waitpid(pid, &status, 0)
                    if result < 0, errno == EINTR { continue }
                    return result == pid ? status : nil
                }
            }
        }.value
        timer.cancel()

        let status: ProcessExitStatus
        if let raw = waitStatus ?? nil {
            let signal = raw & 0x7F
            status = signal == 0 ? .exited((raw >> 8) & 0xFF) : .signaled(signal)
        } else {
            status = .unknown
        }
        return CommandResult(
            status: status,
            standardOutput: readAll(stdout),
            standardError: readAll(stderr),
            timedOut: flags.state.withLock { $0.timedOut }
        )
    }

    /// Runs a command and throws unless it exits with 0.
    @discardableResult
    public static func runChecked(
        _ executable: String,
        _ arguments: [String],
        timeout: Duration = .seconds(30),
        installHint: String? = nil
    ) async throws -> CommandResult {
        let result = try await run(executable, arguments, timeout: timeout, installHint: installHint)
        guard result.succeeded else {
            let lines = (result.standardError + result.standardOutput).split(separator: "\n").suffix(20).map(
                String.init)
            throw TestSupportError(
                .commandFailed,
                "\(executable) \(arguments.joined(separator: " ")) failed: \(result.status)\(result.timedOut ? " (timed out)" : "")",
                recentOutput: lines
            )
        }
        return result
    }

    private static func temporaryFile() throws(TestSupportError) -> Int32 {
        var template = Array("/tmp/asynq-command-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            let fd = mkstemp(base)
            if fd >= 0 {
                unlink(base)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            return fd
        }
        if fd < 0 { throw Posix.systemError("mkstemp") }
        return fd
    }

    private static func readAll(_ fd: Int32) -> String {
        _ = lseek(fd, 0, SEEK_SET)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private final class CommandFlags: Sendable {
    let state = Mutex((exited: false, timedOut: false))
}
