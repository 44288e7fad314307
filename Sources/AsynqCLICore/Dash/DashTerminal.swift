import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns screen lines into the bytes that draw them, rewriting only the rows that changed
/// since the previous frame.
package struct DashScreenEncoder: Sendable {
    private var previous: [String] = []

    package init() {}

    /// The escape sequences and text for `lines` on a screen `width` cells wide; `full` clears
    /// the screen first. A row is cleared after its text only when the text is narrower than the
    /// screen: erasing after the last column would erase the last character.
    package mutating func frame(_ lines: [DashLine], width: Int, full: Bool) -> String {
        var output = ""
        if full {
            output += "\u{1B}[0m\u{1B}[2J"
            previous = []
        }
        var encoded: [String] = []
        encoded.reserveCapacity(lines.count)
        for (row, line) in lines.enumerated() {
            let text = Self.encode(line)
            encoded.append(text)
            if row < previous.count, previous[row] == text { continue }
            output += "\u{1B}[\(row + 1);1H" + text + (line.width < width ? "\u{1B}[0m\u{1B}[K" : "\u{1B}[0m")
        }
        previous = encoded
        return output
    }

    /// One line with SGR sequences around its styled spans.
    package static func encode(_ line: DashLine) -> String {
        var text = ""
        for span in line.spans {
            let sgr = span.style.sgr
            text += sgr + span.text + (sgr.isEmpty ? "" : "\u{1B}[0m")
        }
        return text
    }
}

/// The controlling terminal in full-screen mode: raw input (no echo, no line editing, no
/// signals from keys), the alternate screen, a hidden cursor and no line wrapping. ``restore()``
/// puts everything back as it was; it is safe to call more than once.
///
/// Input is read with `poll` + `read` on NIO's blocking thread pool, so the descriptor stays in
/// blocking mode (it is shared with the shell that started us). The same `poll` watches two
/// self-pipes: one written by ``stopReading()``, one by the handler of the signals the dashboard
/// traps (SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGCONT), which only writes the signal's number
/// (async-signal-safe). A C handler is used rather than `UnixSignalsSequence` (a dispatch signal
/// source): with the latter, a SIGTERM sent to the dashboard under tmux on Linux ended the process
/// by the default action, leaving the terminal in raw mode (cause not pinned down); with the
/// handler installed by `signal(2)` there is no window in which the default action applies.
package final class DashTerminal: Sendable {
    package enum ReadResult: Sendable, Equatable {
        case bytes([UInt8])
        case signals([Int32])
        case timedOut
        /// End of input, an error, or ``stopReading()``.
        case closed
    }

    /// The signals ``trapSignals()`` handles.
    package static let trappedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGCONT]

    private struct State {
        var saved: termios?
        var raw: termios?
        var active = false
        var previousHandlers: [Int32: SignalHandler?] = [:]
    }

    private let input: Int32
    private let output: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let signalRead: Int32
    private let signalWrite: Int32
    private let state = Mutex(State())

    static let enterSequence = "\u{1B}[?1049h\u{1B}[?25l\u{1B}[?7l\u{1B}[0m\u{1B}[2J\u{1B}[H"
    static let leaveSequence = "\u{1B}[0m\u{1B}[?7h\u{1B}[?25h\u{1B}[?1049l"

    package init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO) throws {
        let wake = try Self.makePipe()
        let signals: (Int32, Int32)
        do {
            signals = try Self.makePipe()
        } catch {
            close(wake.0)
            close(wake.1)
            throw error
        }
        self.input = input
        self.output = output
        (wakeRead, wakeWrite) = wake
        (signalRead, signalWrite) = signals
    }

    deinit {
        untrapSignals()
        for descriptor in [wakeRead, wakeWrite, signalRead, signalWrite] { close(descriptor) }
    }

    /// A pipe whose ends are closed on exec and whose write end never blocks.
    private static func makePipe() throws -> (Int32, Int32) {
        var descriptors: [Int32] = [-1, -1]
        guard pipe(&descriptors) == 0 else {
            throw CLIError("could not create a pipe (errno \(errno))")
        }
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) }
        return (descriptors[0], descriptors[1])
    }

    // MARK: Signals

    /// Installs the handler for ``trappedSignals`` (one terminal at a time in a process).
    package func trapSignals() throws {
        try state.withLock { state in
            guard state.previousHandlers.isEmpty else { return }
            guard
                dashSignalPipe.compareExchange(expected: -1, desired: signalWrite, ordering: .sequentiallyConsistent)
                    .exchanged
            else {
                throw CLIError("another dashboard already handles signals in this process")
            }
            for number in Self.trappedSignals {
                state.previousHandlers[number] = signal(number, dashSignalHandler)
            }
        }
    }

    /// Puts the previous handlers back.
    package func untrapSignals() {
        state.withLock { state in
            guard !state.previousHandlers.isEmpty else { return }
            for (number, previous) in state.previousHandlers { _ = signal(number, previous) }
            state.previousHandlers = [:]
            dashSignalPipe.store(-1, ordering: .sequentiallyConsistent)
        }
    }

    // MARK: Modes

    /// Raw mode, alternate screen, hidden cursor.
    package func enter() throws {
        try state.withLock { state in
            guard !state.active else { return }
            var attributes = termios()
            guard tcgetattr(input, &attributes) == 0 else {
                throw CLIError("cannot read the terminal settings (errno \(errno))")
            }
            state.saved = attributes
            var raw = attributes
            raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
            raw.c_cflag |= tcflag_t(CS8)
            raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG)
            withUnsafeMutableBytes(of: &raw.c_cc) { bytes in
                bytes[Int(VMIN)] = 1
                bytes[Int(VTIME)] = 0
            }
            guard tcsetattr(input, TCSAFLUSH, &raw) == 0 else {
                throw CLIError("cannot switch the terminal to raw mode (errno \(errno))")
            }
            state.raw = raw
            state.active = true
            FileDescriptorWriter.write(Self.enterSequence, to: output)
        }
    }

    /// After SIGCONT (the shell may have changed the settings while we were stopped): raw mode
    /// and the alternate screen again.
    package func reassert() {
        state.withLock { state in
            guard state.active, var raw = state.raw else { return }
            _ = tcsetattr(input, TCSAFLUSH, &raw)
            FileDescriptorWriter.write(Self.enterSequence, to: output)
        }
    }

    /// Leaves the alternate screen, shows the cursor and restores the saved settings.
    package func restore() {
        state.withLock { state in
            guard state.active else { return }
            state.active = false
            FileDescriptorWriter.write(Self.leaveSequence, to: output)
            if var saved = state.saved { _ = tcsetattr(input, TCSADRAIN, &saved) }
        }
    }

    /// Ctrl-Z: gives the terminal back, stops the process (as the shell's job control expects)
    /// and takes the terminal again once continued.
    package func suspend() throws {
        restore()
        _ = kill(getpid(), SIGTSTP)
        try enter()
    }

    /// The window size, or 80x24 when the terminal does not say.
    package func size() -> DashSize {
        var window = winsize()
        for descriptor in [output, input] {
            if ioctl(descriptor, UInt(TIOCGWINSZ), &window) == 0, window.ws_col > 0, window.ws_row > 0 {
                return DashSize(width: Int(window.ws_col), height: Int(window.ws_row))
            }
        }
        return DashSize(width: 80, height: 24)
    }

    package func write(_ text: String) {
        FileDescriptorWriter.write(text, to: output)
    }

    // MARK: Input

    /// Waits for input or trapped signals (at most `timeout`, or without limit).
    package func read(timeout: Duration?) async -> ReadResult {
        let input = self.input
        let wake = self.wakeRead
        let signals = self.signalRead
        let milliseconds: Int32 =
            timeout.map { duration in
                let (seconds, attoseconds) = duration.components
                return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
            } ?? -1
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                var descriptors = [
                    pollfd(fd: input, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
                ]
                while true {
                    let ready = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
                    if ready < 0 {
                        if errno == EINTR { continue }
                        return .closed
                    }
                    if ready == 0 { return .timedOut }
                    if descriptors[1].revents != 0 { return .closed }
                    var buffer = [UInt8](repeating: 0, count: 512)
                    if descriptors[2].revents != 0 {
                        let count = buffer.withUnsafeMutableBytes { systemRead(signals, $0.baseAddress, $0.count) }
                        if count > 0 { return .signals(buffer[0..<count].map { Int32($0) }) }
                        continue
                    }
                    let count = buffer.withUnsafeMutableBytes { systemRead(input, $0.baseAddress, $0.count) }
                    if count < 0, errno == EINTR || errno == EAGAIN { continue }
                    if count <= 0 { return .closed }
                    return .bytes(Array(buffer[0..<count]))
                }
            }
        } catch {
            return .closed
        }
    }

    /// Makes a pending and every later ``read(timeout:)`` return `.closed`.
    package func stopReading() {
        var byte: UInt8 = 1
        _ = systemWrite(wakeWrite, &byte, 1)
    }
}

private typealias SignalHandler = @convention(c) (Int32) -> Void

/// The write end of the current terminal's signal pipe, −1 when none (read by the C handler,
/// hence an atomic).
private let dashSignalPipe = Atomic<Int32>(-1)

/// Writes the signal's number into the pipe: an atomic load and `write`, both
/// async-signal-safe; `errno` is kept for the interrupted code.
private func dashSignalHandler(_ number: Int32) {
    let savedErrno = errno
    let descriptor = dashSignalPipe.load(ordering: .sequentiallyConsistent)
    if descriptor >= 0 {
        var byte = UInt8(truncatingIfNeeded: number)
        _ = systemWrite(descriptor, &byte, 1)
    }
    errno = savedErrno
}

private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(descriptor, buffer, count)
    #elseif canImport(Musl)
    Musl.read(descriptor, buffer, count)
    #else
    Darwin.read(descriptor, buffer, count)
    #endif
}

private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(descriptor, buffer, count)
    #elseif canImport(Musl)
    Musl.write(descriptor, buffer, count)
    #else
    Darwin.write(descriptor, buffer, count)
    #endif
}
