import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a supervised process ended.
public enum ProcessExitStatus: Sendable, Hashable, CustomStringConvertible {
    /// It exited with this code.
    case exited(Int32)
    /// A signal ended it (SIGKILL is 9, SIGTERM 15).
    case signaled(Int32)
    /// Its supervisor disappeared without saying.
    case unknown

    init(shellStatus code: Int32) {
        self = code > 128 ? .signaled(code - 128) : .exited(code)
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit code \(code)"
        case .signaled(let signal): "signal \(signal)"
        case .unknown: "unknown status"
        }
    }
}

/// A long-lived server process (redis-server, redis-sentinel, a cluster node) started for a test:
/// spawn, readiness, a watchdog against orphans, signals and stop by PID. `RedisTestServer` is
/// built on it; a Sentinel group or a cluster is meant to start several of these.
///
/// ## Orphan safety
/// The server never outlives the test process, however that process ends:
/// 1. We spawn `/bin/sh -c <supervisor script>` (not the server itself) with its stdin the read end
///    of a "lifeline" pipe; only this object holds the write end (close-on-exec, so no other child
///    inherits it). The script starts the server in the background, prints the server's real PID on
///    stdout, and starts a watchdog subshell that blocks in `read` on the lifeline.
/// 2. When the test process dies for any reason (crash, SIGKILL, exit) the kernel closes the write
///    end, `read` returns on EOF, and the watchdog SIGKILLs the server (and deletes
///    `removeWhenOrphaned`, the server's temporary directory). Dropping this object while the
///    process runs closes the lifeline too.
/// 3. On a normal exit an `atexit` hook also SIGKILLs every live server, and the script reports
///    the server's exit status (from `wait`) on stdout, so stop/kill learn of the exit by an event.
///
/// All of the server's output (stdout and stderr) comes through a pipe read by SwiftNIO: it is
/// appended to `configuration.logFile`, the last lines are kept for error messages, and each line
/// is offered to `configuration.isReadyLine` to detect readiness without polling.
public final class SupervisedProcess: Sendable {
    public struct Configuration: Sendable {
        /// A name looked up in `PATH`, or a path.
        public var executable: String
        public var arguments: [String]
        /// Where the process starts; the supervisor's own directory when nil.
        public var workingDirectory: String?
        /// Every line the process prints is appended here.
        public var logFile: String?
        /// Longest wait for the readiness line.
        public var readinessTimeout: Duration
        /// Whether a line of output says that the process is ready.
        public var isReadyLine: @Sendable (String) -> Bool
        /// Added to the "not found on PATH" error, e.g. how to install the executable.
        public var installHint: String?
        /// A file or directory (e.g. the server's temporary directory) that the watchdog deletes
        /// after it killed the process because the lifeline broke: the test process died, or this
        /// object was dropped while the process ran. Not deleted by `terminate()` or `kill()`.
        public var removeWhenOrphaned: String?

        public init(
            executable: String,
            arguments: [String],
            workingDirectory: String? = nil,
            logFile: String? = nil,
            readinessTimeout: Duration = .seconds(10),
            installHint: String? = nil,
            removeWhenOrphaned: String? = nil,
            isReadyLine: @escaping @Sendable (String) -> Bool
        ) {
            self.removeWhenOrphaned = removeWhenOrphaned
            self.executable = executable
            self.arguments = arguments
            self.workingDirectory = workingDirectory
            self.logFile = logFile
            self.readinessTimeout = readinessTimeout
            self.installHint = installHint
            self.isReadyLine = isReadyLine
        }
    }

    public let configuration: Configuration
    /// The resolved path of the executable.
    public let executablePath: String
    /// The PID of the `/bin/sh` supervisor (the parent of `pid`).
    public let supervisorPID: Int32
    private let state: Mutex<State>

    /// How many output lines are kept for error messages.
    static let keptLines = 40
    static let marker = "@@asynq-supervisor@@ "

    /// The supervisor. `$1` is the working directory and `$2` the path to delete when orphaned
    /// (either may be empty), `$3...` the command.
    /// fd 3 keeps the lifeline for the watchdog only; the server gets /dev/null as stdin and
    /// closes fd 3, so only the watchdog (and this process's write end) keep the pipe open.
    /// The watchdog starts before anything is printed, and the supervisor ignores SIGPIPE, so a
    /// reader that went away can neither kill the supervisor before the watchdog is in place nor
    /// leave the server unreaped. Once the lifeline broke, the watchdog ignores SIGTERM so that
    /// its cleanup completes; the supervisor waits for it before it reports the exit.
    static let supervisorScript = """
        exec 3<&0 0</dev/null
        dir=$1; cleanup=$2; shift 2
        if [ -n "$dir" ]; then cd "$dir" || exit 126; fi
        "$@" 3<&- &
        child=$!
        (
            read -r _ <&3
            trap '' TERM
            kill -KILL "$child"
            if [ -n "$cleanup" ]; then rm -rf -- "$cleanup"; fi
        ) >/dev/null 2>&1 &
        watchdog=$!
        exec 3<&-
        trap '' PIPE
        echo "\(marker)child-pid $child"
        wait "$child"
        status=$?
        kill "$watchdog" 2>/dev/null
        wait "$watchdog"
        echo "\(marker)child-exit $status"
        """

    private init(
        configuration: Configuration, executablePath: String, supervisorPID: Int32, lifeline: Int32, logFD: Int32
    ) {
        self.configuration = configuration
        self.executablePath = executablePath
        self.supervisorPID = supervisorPID
        self.state = Mutex(State(lifeline: lifeline, logFD: logFD))
    }

    deinit {
        // Dropping the last reference to a live process kills it (through the watchdog) and reaps
        // the supervisor in the background.
        let (lifeline, logFD, channel, needsReap) = state.withLock { state in
            let result = (state.lifeline, state.logFD, state.channel, !state.reapStarted)
            state.lifeline = -1
            state.logFD = -1
            state.channel = nil
            return result
        }
        Posix.closeDescriptor(lifeline)
        Posix.closeDescriptor(logFD)
        channel?.close(promise: nil)
        if needsReap {
            let supervisor = supervisorPID
            Task {
                _ = try? await BlockingPool.shared.runIfActive { Posix.waitForExit(supervisor) }
                LiveProcesses.unregister(supervisor: supervisor)
            }
        }
    }

    // MARK: Launching

    /// Starts the process and waits until it prints a line accepted by `isReadyLine`.
    /// Throws if the executable is missing, if the process exits first, or after
    /// `readinessTimeout` (the process is killed then); the error carries its last output lines.
    public static func launch(_ configuration: Configuration) async throws -> SupervisedProcess {
        guard let path = Posix.findExecutable(configuration.executable) else {
            var message = "\(configuration.executable) not found on PATH"
            if let hint = configuration.installHint { message += ": \(hint)" }
            throw TestSupportError(.executableNotFound, message)
        }
        LiveProcesses.installExitHook()

        let lifeline = try Posix.makePipe()
        let output: (read: Int32, write: Int32)
        do {
            output = try Posix.makePipe()
        } catch {
            Posix.closeDescriptor(lifeline.read)
            Posix.closeDescriptor(lifeline.write)
            throw error
        }
        var logFD: Int32 = -1
        if let logFile = configuration.logFile {
            logFD = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if logFD < 0 {
                let error = Posix.systemError("open \(logFile)")
                for fd in [lifeline.read, lifeline.write, output.read, output.write] { Posix.closeDescriptor(fd) }
                throw error
            }
        }

        let supervisorPID: pid_t
        do {
            supervisorPID = try Posix.spawn(
                path: "/bin/sh",
                arguments: [
                    "/bin/sh", "-c", supervisorScript, "asynq-supervisor",
                    configuration.workingDirectory ?? "", configuration.removeWhenOrphaned ?? "", path,
                ]
                    + configuration.arguments,
                stdin: lifeline.read,
                stdout: output.write,
                stderr: output.write,
                newProcessGroup: true
            )
        } catch {
            for fd in [lifeline.read, lifeline.write, output.read, output.write, logFD] { Posix.closeDescriptor(fd) }
            throw error
        }
        Posix.closeDescriptor(lifeline.read)
        Posix.closeDescriptor(output.write)
        LiveProcesses.register(supervisor: supervisorPID)

        let process = SupervisedProcess(
            configuration: configuration,
            executablePath: path,
            supervisorPID: supervisorPID,
            lifeline: lifeline.write,
            logFD: logFD
        )
        do {
            let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .takingOwnershipOfDescriptor(input: output.read) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(OutputHandler(process: process))
                        return channel
                    }
                }
            process.attach(channel)
        } catch {
            Posix.closeDescriptor(output.read)
            process.severLifeline()
            process.startReaping()
            throw TestSupportError(.spawnFailed, "cannot read the output of \(configuration.executable): \(error)")
        }

        let ready = await process.wait(until: .readyOrFinished, timeout: configuration.readinessTimeout)
        if let status = process.finishedStatus {
            throw TestSupportError(
                .exitedBeforeReady,
                "\(configuration.executable) exited (\(status)) before it was ready",
                recentOutput: process.recentOutput
            )
        }
        if !ready {
            let cancelled = Task.isCancelled
            _ = await process.kill()
            if cancelled { throw CancellationError() }
            throw TestSupportError(
                .readinessTimeout,
                "\(configuration.executable) was not ready after \(configuration.readinessTimeout); killed it",
                recentOutput: process.recentOutput
            )
        }
        return process
    }

    // MARK: State

    /// The PID of the process itself (not of its supervisor). It stays readable after the exit.
    public var pid: Int32 { state.withLock { $0.childPID } }

    /// True until the process has exited.
    public var isRunning: Bool { state.withLock { !$0.finished && $0.reportedExit == nil } }

    /// How it ended, once it has ended and its supervisor is reaped; nil while running.
    public var finishedStatus: ProcessExitStatus? { state.withLock { $0.finished ? $0.exitStatus : nil } }

    /// The last lines the process printed.
    public var recentOutput: [String] { state.withLock { $0.recentLines } }

    // MARK: Control

    /// Sends `signal` to the process (not to its supervisor).
    public func signal(_ signal: Int32) throws(TestSupportError) {
        let pid = state.withLock { $0.finished || $0.reportedExit != nil ? 0 : $0.childPID }
        guard pid > 0 else {
            throw TestSupportError(.notRunning, "\(configuration.executable) is not running")
        }
        if posixKill(pid, signal) != 0 {
            throw Posix.systemError("kill(\(pid), \(signal))")
        }
    }

    /// Waits until the process has exited, at most `timeout` (nil: no limit). Nil if it still runs.
    public func waitForExit(timeout: Duration? = nil) async -> ProcessExitStatus? {
        _ = await wait(until: .finished, timeout: timeout)
        return finishedStatus
    }

    /// SIGTERM (and SIGCONT, should it be paused), then SIGKILL after `gracePeriod`; returns once
    /// the process has exited. Not interrupted by task cancellation: cleanup always completes.
    @discardableResult
    public func terminate(gracePeriod: Duration = .seconds(5)) async -> ProcessExitStatus {
        if let status = finishedStatus { return status }
        try? signal(SIGTERM)
        try? signal(SIGCONT)
        if let status = await waitShieldedFromCancellation(timeout: gracePeriod) { return status }
        return await kill()
    }

    /// SIGKILL, as in a crash; returns once the process has exited. Not interrupted by cancellation.
    @discardableResult
    public func kill() async -> ProcessExitStatus {
        if let status = finishedStatus { return status }
        if state.withLock({ $0.childPID }) > 0 {
            try? signal(SIGKILL)
        } else {
            // The PID is not known yet: close the lifeline, and the watchdog kills the process.
            severLifeline()
        }
        return await waitShieldedFromCancellation(timeout: .seconds(30)) ?? .unknown
    }

    /// Closes the write end of the lifeline, exactly what the kernel does when the test process
    /// dies: the watchdog then SIGKILLs the process. For tests of the orphan protection.
    package func severLifeline() {
        let fd = state.withLock { state in
            let fd = state.lifeline
            state.lifeline = -1
            return fd
        }
        Posix.closeDescriptor(fd)
    }

    private func waitShieldedFromCancellation(timeout: Duration) async -> ProcessExitStatus? {
        // An unstructured task does not inherit the caller's cancellation.
        await Task { await self.waitForExit(timeout: timeout) }.value
    }

    // MARK: Output (called on the event loop)

    fileprivate func attach(_ channel: any Channel) {
        let alreadyFinished = state.withLock { state in
            if state.finished { return true }
            state.channel = channel
            return false
        }
        if alreadyFinished { channel.close(promise: nil) }
    }

    fileprivate func consume(_ buffer: ByteBuffer) {
        let (resumed, reap) = state.withLock { state in
            buffer.withUnsafeReadableBytes { bytes in
                var start = 0
                for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
                    state.partialLine.append(contentsOf: bytes[start..<index])
                    handleLine(&state)
                    start = index + 1
                }
                state.partialLine.append(contentsOf: bytes[start...])
                if state.partialLine.count > 64 * 1024 { handleLine(&state) }
            }
            return (state.takeSatisfiedWaiters(), state.reportedExit != nil && state.claimReaping())
        }
        for continuation in resumed { continuation.resume() }
        if reap { reapSupervisor() }
    }

    fileprivate func outputClosed() {
        let (resumed, reap) = state.withLock { state in
            if !state.partialLine.isEmpty { handleLine(&state) }
            state.outputClosed = true
            return (state.takeSatisfiedWaiters(), state.claimReaping())
        }
        for continuation in resumed { continuation.resume() }
        if reap { reapSupervisor() }
    }

    private func handleLine(_ state: inout State) {
        let bytes = state.partialLine
        state.partialLine.removeAll(keepingCapacity: true)
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix(Self.marker) {
            let fields = line.dropFirst(Self.marker.count).split(separator: " ")
            if fields.count == 2, let value = Int32(fields[1]) {
                switch fields[0] {
                case "child-pid":
                    state.childPID = value
                    LiveProcesses.setChild(value, supervisor: supervisorPID)
                case "child-exit":
                    state.reportedExit = ProcessExitStatus(shellStatus: value)
                default:
                    break
                }
            }
            return
        }
        if state.logFD >= 0 {
            (bytes + [UInt8(ascii: "\n")]).withUnsafeBytes { Posix.writeAll(state.logFD, $0) }
        }
        state.recentLines.append(line)
        if state.recentLines.count > Self.keptLines { state.recentLines.removeFirst() }
        if !state.ready, configuration.isReadyLine(line) { state.ready = true }
    }

    /// Reaps the supervisor, which exits right after it reports the exit of the process (or has
    /// exited already when its output is closed), so the blocking `waitpid` is short.
    fileprivate func startReaping() {
        if state.withLock({ $0.claimReaping() }) { reapSupervisor() }
    }

    /// Call once, after `claimReaping()` returned true.
    private func reapSupervisor() {
        let supervisor = supervisorPID
        Task {
            _ = try? await BlockingPool.shared.runIfActive { Posix.waitForExit(supervisor) }
            self.didReap()
        }
    }

    private func didReap() {
        let (resumed, lifeline, logFD, channel) = state.withLock { state in
            state.finished = true
            state.exitStatus = state.reportedExit ?? .unknown
            let result = (state.lifeline, state.logFD, state.channel)
            state.lifeline = -1
            state.logFD = -1
            state.channel = nil
            return (state.takeSatisfiedWaiters(), result.0, result.1, result.2)
        }
        LiveProcesses.unregister(supervisor: supervisorPID)
        Posix.closeDescriptor(lifeline)
        Posix.closeDescriptor(logFD)
        // A grandchild (a fork of the server) may still hold the output pipe: stop reading it.
        channel?.close(promise: nil)
        for continuation in resumed { continuation.resume() }
    }

    // MARK: Waiting

    /// Suspends until `milestone` is reached or `timeout` passes (or the task is cancelled).
    /// Returns whether the milestone was reached.
    func wait(until milestone: Milestone, timeout: Duration?) async -> Bool {
        if let timeout {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.wait(until: milestone) }
                group.addTask { try? await Task.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
            }
        } else {
            await wait(until: milestone)
        }
        return state.withLock { $0.reached(milestone) }
    }

    private func wait(until milestone: Milestone) async {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.reached(milestone) || Task.isCancelled { return true }
                    state.waiters[id] = Waiter(milestone: milestone, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    enum Milestone: Sendable {
        /// Ready (readiness line and PID seen), or finished.
        case readyOrFinished
        /// Exited and supervisor reaped.
        case finished
    }

    private struct Waiter {
        var milestone: Milestone
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var childPID: Int32 = 0
        var ready = false
        var reportedExit: ProcessExitStatus?
        var outputClosed = false
        var reapStarted = false
        var finished = false
        var exitStatus: ProcessExitStatus?
        /// Write end of the lifeline pipe; -1 once closed.
        var lifeline: Int32
        var logFD: Int32
        var channel: (any Channel)?
        var partialLine: [UInt8] = []
        var recentLines: [String] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiterID = 0

        func reached(_ milestone: Milestone) -> Bool {
            switch milestone {
            case .readyOrFinished: finished || (ready && childPID > 0)
            case .finished: finished
            }
        }

        /// True the first time only.
        mutating func claimReaping() -> Bool {
            if reapStarted { return false }
            reapStarted = true
            return true
        }

        mutating func takeSatisfiedWaiters() -> [CheckedContinuation<Void, Never>] {
            var satisfied: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in waiters where reached(waiter.milestone) {
                satisfied.append(waiter.continuation)
                waiters.removeValue(forKey: id)
            }
            return satisfied
        }
    }
}

/// Reads the supervisor's output pipe on a NIO event loop and hands it to the process. It holds
/// the process weakly: dropping the process must not be prevented by its own output pipe.
private final class OutputHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private weak var process: SupervisedProcess?

    init(process: SupervisedProcess) {
        self.process = process
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        process?.consume(Self.unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        process?.outputClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Threads for blocking `waitpid` calls, apart from NIO's shared pool (which has one thread per
/// core) so that a slow helper command never delays the reaping of a server.
enum BlockingPool {
    static let shared: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()
}

/// Every live supervised process, so that an `atexit` hook can SIGKILL them at a normal exit
/// (the lifeline covers abnormal exits).
enum LiveProcesses {
    /// Supervisor PID -> server PID (0 until known).
    private static let table = Mutex<[Int32: Int32]>([:])
    private static let hook: Bool = {
        atexit { LiveProcesses.killAll() }
        return true
    }()

    static func installExitHook() {
        _ = hook
    }

    static func register(supervisor: Int32) {
        table.withLock { $0[supervisor] = 0 }
    }

    static func setChild(_ child: Int32, supervisor: Int32) {
        table.withLock { table in
            if table[supervisor] != nil { table[supervisor] = child }
        }
    }

    static func unregister(supervisor: Int32) {
        _ = table.withLock { $0.removeValue(forKey: supervisor) }
    }

    static func killAll() {
        let all = table.withLock { table in
            let all = table
            table.removeAll()
            return all
        }
        for (supervisor, child) in all {
            if child > 0 { _ = posixKill(child, SIGKILL) }
            _ = posixKill(supervisor, SIGKILL)
        }
    }
}

/// `kill(2)`, named apart from the `kill()` methods.
func posixKill(_ pid: Int32, _ signal: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.kill(pid, signal)
    #elseif canImport(Musl)
    Musl.kill(pid, signal)
    #else
    Darwin.kill(pid, signal)
    #endif
}
