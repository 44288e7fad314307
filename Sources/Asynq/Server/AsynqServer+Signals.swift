import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension AsynqServer {
    /// Runs the server until SIGTERM or SIGINT, then shuts it down gracefully (Go's `Run`).
    /// SIGTSTP stops fetching new tasks (``stop()``) and the server keeps waiting.
    ///
    /// SIGTERM/SIGINT go through a ServiceLifecycle `ServiceGroup` (graceful shutdown signals).
    /// `UnixSignal` has no SIGTSTP, so that one is trapped with a self-pipe read by NIO: the
    /// C handler only writes one byte (async-signal-safe). The previous SIGTSTP disposition is
    /// restored when this returns.
    public func runUntilSignalled() async throws {
        let logger = self.logger
        logger.info("Send signal TSTP to stop processing new tasks")
        logger.info("Send signal TERM or INT to terminate the process")
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                // When the server ends on its own (`shutdown()`), the group ends without error.
                services: [.init(service: self, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                try await group.run()
                return true
            }
            tasks.addTask {
                do {
                    try await TerminalStopSignal.watch { [weak self] in self?.stop() }
                } catch {
                    logger.warning("SIGTSTP is not handled", metadata: [LogKeys.error: "\(error)"])
                }
                return false
            }
            while let serviceGroupEnded = try await tasks.next() {
                if serviceGroupEnded {
                    tasks.cancelAll()
                    break
                }
            }
        }
    }

    /// Returns once `runUntilSignalled()` traps SIGTSTP (tests send the signal only then).
    package static func waitUntilStopSignalTrapped() async {
        await TerminalStopSignal.trapped.wait()
    }
}

/// SIGTSTP delivery through a self-pipe (only one watcher at a time in a process).
enum TerminalStopSignal {
    /// The write end of the pipe while a watcher is installed, −1 otherwise. Read by the C
    /// signal handler, hence an atomic.
    fileprivate static let pipeWriteEnd = Atomic<Int32>(-1)
    /// Fired when a watcher installed its handler; replaced per watcher is unnecessary in
    /// practice (one watcher per process), so it stays fired.
    static let trapped = ServerEvent()

    struct AlreadyWatching: Error, CustomStringConvertible {
        var description: String { "SIGTSTP is already watched in this process" }
    }

    /// Calls `onSignal` for every SIGTSTP until the current task is cancelled.
    static func watch(onSignal: @escaping @Sendable () -> Void) async throws {
        var descriptors: [Int32] = [-1, -1]
        guard pipe(&descriptors) == 0 else {
            throw AsynqError(.internal, "could not create a pipe for signal handling (errno \(errno))")
        }
        let (readEnd, writeEnd) = (descriptors[0], descriptors[1])
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
        guard pipeWriteEnd.compareExchange(expected: -1, desired: writeEnd, ordering: .sequentiallyConsistent).exchanged
        else {
            close(readEnd)
            close(writeEnd)
            throw AlreadyWatching()
        }
        let previous = signal(SIGTSTP, terminalStopHandler)
        defer {
            signal(SIGTSTP, previous)
            pipeWriteEnd.store(-1, ordering: .sequentiallyConsistent)
            close(writeEnd)
        }
        let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SignalByteReader(onSignal: onSignal))
                }
            }
            .takingOwnershipOfDescriptor(input: readEnd)
            .get()
        trapped.fire()
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// The SIGTSTP handler: one byte into the self-pipe (async-signal-safe: an atomic load and
/// `write`).
private func terminalStopHandler(_ signal: Int32) {
    let descriptor = TerminalStopSignal.pipeWriteEnd.load(ordering: .sequentiallyConsistent)
    guard descriptor >= 0 else { return }
    var byte: UInt8 = 1
    _ = write(descriptor, &byte, 1)
}

private final class SignalByteReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let onSignal: @Sendable () -> Void

    init(onSignal: @escaping @Sendable () -> Void) {
        self.onSignal = onSignal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data).readableBytes
        for _ in 0..<bytes { onSignal() }
    }
}
