import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one shell command for a task: `/bin/sh -c <command>` in a process group of its own,
/// the payload on standard input, standard output passed on line by line, the end of standard
/// error kept for the error message.
///
/// One blocking loop on a thread of the given pool watches the process: `poll` over its pipes,
/// and `waitpid(WNOHANG)` between polls (at most 50 ms apart), so that an exit is noticed even
/// when a background child still holds the pipes. Cancelling the calling task (a timeout, a
/// deadline, a cancel request, a shutdown) sends SIGTERM to the whole process group and SIGKILL
/// `killGracePeriod` later. When the command exits, what it left running in its group is killed.
struct ShellProcess: Sendable {
    struct Outcome: Sendable, Equatable {
        enum Status: Sendable, Equatable {
            case exited(Int32)
            case signaled(Int32)
        }

        var status: Status
        /// The end of standard error (at most `stderrLimit` bytes), trimmed.
        var standardError: String
        /// Whether it was stopped because the caller was cancelled.
        var terminated: Bool
    }

    var command: String
    var input: Data
    var environment: [String: String]
    var killGracePeriod: Duration = .seconds(2)
    var stderrLimit = 4096
    /// Receives each line the command prints on standard output (on the watching thread).
    var onOutputLine: @Sendable (String) -> Void = { _ in }

    func run(on threads: NIOThreadPool) async throws -> Outcome {
        Self.ignoreBrokenPipes()
        let watcher = try ProcessWatcher.spawn(self)
        return try await withTaskCancellationHandler {
            try await threads.runIfActive { watcher.watch() }
        } onCancel: {
            watcher.requestTermination()
        }
    }

    /// Writing to a pipe whose reader has gone must fail with EPIPE, not kill the worker.
    private static func ignoreBrokenPipes() {
        _ = signalDisposition
    }

    private static let signalDisposition: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()
}

/// The state of one running process, shared by the watching thread and the canceller.
private final class ProcessWatcher: Sendable {
    let pid: pid_t
    let process: ShellProcess
    private let stdinFD: Int32
    private let stdoutFD: Int32
    private let stderrFD: Int32
    private let wakeRead: Int32
    /// Written to (under the lock) to interrupt `poll`; -1 once closed.
    private let wakeWrite: Mutex<Int32>
    private let terminationRequested = Atomic<Bool>(false)

    private init(pid: pid_t, process: ShellProcess, descriptors: [Int32]) {
        self.pid = pid
        self.process = process
        stdinFD = descriptors[0]
        stdoutFD = descriptors[1]
        stderrFD = descriptors[2]
        wakeRead = descriptors[3]
        wakeWrite = Mutex(descriptors[4])
    }

    static func spawn(_ process: ShellProcess) throws -> ProcessWatcher {
        var opened: [Int32] = []
        func makePipe() throws -> (read: Int32, write: Int32) {
            let pair = try ProcessSpawner.makePipe()
            opened += [pair.read, pair.write]
            return pair
        }
        do {
            let stdin = try makePipe()
            let stdout = try makePipe()
            let stderr = try makePipe()
            let wake = try makePipe()
            let pid = try ProcessSpawner.spawn(
                path: "/bin/sh",
                arguments: ["/bin/sh", "-c", process.command],
                environment: process.environment.map { "\($0.key)=\($0.value)" },
                stdin: stdin.read,
                stdout: stdout.write,
                stderr: stderr.write
            )
            for fd in [stdin.read, stdout.write, stderr.write] { close(fd) }
            let ours = [stdin.write, stdout.read, stderr.read, wake.read, wake.write]
            for fd in ours { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            return ProcessWatcher(pid: pid, process: process, descriptors: ours)
        } catch {
            for fd in opened { close(fd) }
            throw error
        }
    }

    /// Called when the caller is cancelled: the watching loop sends the signals.
    func requestTermination() {
        terminationRequested.store(true, ordering: .sequentiallyConsistent)
        wakeWrite.withLock { fd in
            guard fd >= 0 else { return }
            var byte: UInt8 = 1
            _ = write(fd, &byte, 1)
        }
    }

    /// The blocking loop; returns once the process has exited and its output is read.
    func watch() -> ShellProcess.Outcome {
        let input = [UInt8](process.input)
        var inputOffset = 0
        var stdinOpen = true
        var stdoutOpen = true
        var stderrOpen = true
        var pendingLine: [UInt8] = []
        var errorTail: [UInt8] = []
        var status: ShellProcess.Outcome.Status?
        var terminatedAt: ContinuousClock.Instant?
        var killed = false
        var exitedAt: ContinuousClock.Instant?
        let clock = ContinuousClock()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)

        if input.isEmpty {
            close(stdinFD)
            stdinOpen = false
        }
        while true {
            if status == nil, terminationRequested.load(ordering: .sequentiallyConsistent) {
                if let sent = terminatedAt {
                    if !killed, clock.now - sent >= process.killGracePeriod {
                        _ = kill(-pid, SIGKILL)
                        killed = true
                    }
                } else {
                    _ = kill(-pid, SIGTERM)
                    _ = kill(-pid, SIGCONT)
                    terminatedAt = clock.now
                }
            }
            if status == nil {
                var raw: Int32 = 0
                let result = waitpid(pid, &raw, WNOHANG)
                if result == pid {
                    status = Self.decode(raw)
                    exitedAt = clock.now
                } else if result < 0 && errno != EINTR {
                    status = .exited(-1)
                    exitedAt = clock.now
                }
            }
            if let exitedAt {
                // Exited: read what is left, but do not wait for pipes a leftover holds open.
                if (!stdoutOpen && !stderrOpen) || clock.now - exitedAt > .milliseconds(200) { break }
            }

            var fds: [pollfd] = []
            if stdinOpen { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if stdoutOpen { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if stderrOpen { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
            fds.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            let ready = poll(&fds, nfds_t(fds.count), 50)
            if ready <= 0 { continue }

            for entry in fds where entry.revents != 0 {
                if entry.fd == stdinFD {
                    var failed = entry.revents & Int16(POLLOUT) == 0
                    if !failed {
                        let count = input.withUnsafeBytes { bytes -> Int in
                            guard let base = bytes.baseAddress else { return 0 }
                            return write(stdinFD, base + inputOffset, input.count - inputOffset)
                        }
                        if count > 0 { inputOffset += count }
                        failed = count < 0 && errno != EAGAIN && errno != EINTR
                    }
                    if failed || inputOffset >= input.count {
                        close(stdinFD)
                        stdinOpen = false
                    }
                } else if entry.fd == stdoutFD {
                    let count = read(stdoutFD, &buffer, buffer.count)
                    if count > 0 {
                        for byte in buffer[0..<count] {
                            if byte == UInt8(ascii: "\n") {
                                process.onOutputLine(String(decoding: pendingLine, as: UTF8.self))
                                pendingLine.removeAll(keepingCapacity: true)
                            } else if pendingLine.count < 64 * 1024 {
                                pendingLine.append(byte)
                            }
                        }
                    } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                        stdoutOpen = false
                    }
                } else if entry.fd == stderrFD {
                    let count = read(stderrFD, &buffer, buffer.count)
                    if count > 0 {
                        errorTail += buffer[0..<count]
                        if errorTail.count > process.stderrLimit * 2 {
                            errorTail.removeFirst(errorTail.count - process.stderrLimit)
                        }
                    } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                        stderrOpen = false
                    }
                } else {
                    _ = read(wakeRead, &buffer, buffer.count)
                }
            }
        }
        // Whatever the command left behind in its group goes with it.
        _ = kill(-pid, SIGKILL)
        if !pendingLine.isEmpty { process.onOutputLine(String(decoding: pendingLine, as: UTF8.self)) }
        if stdinOpen { close(stdinFD) }
        close(stdoutFD)
        close(stderrFD)
        wakeWrite.withLock { fd in
            close(fd)
            fd = -1
        }
        close(wakeRead)
        if errorTail.count > process.stderrLimit {
            errorTail.removeFirst(errorTail.count - process.stderrLimit)
        }
        return ShellProcess.Outcome(
            status: status ?? .exited(-1),
            standardError: String(decoding: errorTail, as: UTF8.self).trimmingCharacters(
                in: .whitespacesAndNewlines),
            terminated: terminatedAt != nil
        )
    }

    private static func decode(_ raw: Int32) -> ShellProcess.Outcome.Status {
        let signal = raw & 0x7F
        return signal == 0 ? .exited((raw >> 8) & 0xFF) : .signaled(signal)
    }
}
