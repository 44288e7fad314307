package import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a command writes and reads: the process's standard streams, or buffers in tests.
///
/// Commands never touch `stdout` directly: they use `Console.current`, a task-local value, so a
/// test runs a command in-process with its own console and reads what it printed, while other
/// tests run in parallel with theirs.
package struct Console: Sendable {
    /// Receives text written to one stream.
    package typealias Sink = @Sendable (String) -> Void

    package var standardOutput: Sink
    package var standardError: Sink
    /// Reads all of standard input (`--payload -`).
    package var readStandardInput: @Sendable () throws -> Data
    /// Reads one line for a confirmation prompt; nil at end of input.
    package var readLine: @Sendable () -> String?
    /// Whether standard output is a terminal (bold titles).
    package var isOutputTerminal: Bool
    /// Whether standard input is a terminal (confirmation prompts).
    package var isInputTerminal: Bool
    /// The environment variables the command sees.
    package var environment: [String: String]
    /// For long-running commands (`server run`, `dev`): returns when they should shut down
    /// gracefully, as SIGINT/SIGTERM do (those still work). Tests use it; nil by default.
    package var shutdownRequested: (@Sendable () async -> Void)?

    package init(
        standardOutput: @escaping Sink,
        standardError: @escaping Sink,
        readStandardInput: @escaping @Sendable () throws -> Data = { Data() },
        readLine: @escaping @Sendable () -> String? = { nil },
        isOutputTerminal: Bool = false,
        isInputTerminal: Bool = false,
        environment: [String: String] = [:],
        shutdownRequested: (@Sendable () async -> Void)? = nil
    ) {
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.readStandardInput = readStandardInput
        self.readLine = readLine
        self.isOutputTerminal = isOutputTerminal
        self.isInputTerminal = isInputTerminal
        self.environment = environment
        self.shutdownRequested = shutdownRequested
    }

    /// The process's own streams.
    package static var standard: Console {
        Console(
            standardOutput: { FileDescriptorWriter.write($0, to: STDOUT_FILENO) },
            standardError: { FileDescriptorWriter.write($0, to: STDERR_FILENO) },
            readStandardInput: { FileHandle.standardInput.readDataToEndOfFile() },
            readLine: { Swift.readLine(strippingNewline: true) },
            isOutputTerminal: isatty(STDOUT_FILENO) == 1,
            isInputTerminal: isatty(STDIN_FILENO) == 1,
            environment: ProcessInfo.processInfo.environment
        )
    }

    @TaskLocal package static var current: Console = .standard

    // MARK: Writing

    /// Writes `text` and a newline to standard output.
    package func print(_ text: String = "") {
        standardOutput(text + "\n")
    }

    /// Writes `text` as is to standard output.
    package func write(_ text: String) {
        standardOutput(text)
    }

    /// Writes `text` and a newline to standard error.
    package func printError(_ text: String) {
        standardError(text + "\n")
    }

    /// A section title: bold on a terminal, plain otherwise.
    package func printBold(_ text: String) {
        print(isOutputTerminal ? "\u{1B}[1m\(text)\u{1B}[0m" : text)
    }

    /// Prints a table the way the Go CLI does (see ``Table``).
    package func printTable(_ headers: [String], _ rows: [[String]]) {
        write(Table.render(headers: headers, rows: rows))
    }
}

/// Collects what a command printed (tests).
package final class OutputBuffer: Sendable {
    private let storage = Mutex<String>("")

    package init() {}

    package func append(_ text: String) {
        storage.withLock { $0 += text }
    }

    package var text: String { storage.withLock { $0 } }
}

enum FileDescriptorWriter {
    /// Writes all of `text` to `fd`, retrying on EINTR and partial writes.
    static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            guard var pointer = buffer.baseAddress else { return }
            var remaining = buffer.count
            while remaining > 0 {
                #if canImport(Glibc)
                let written = Glibc.write(fd, pointer, remaining)
                #elseif canImport(Musl)
                let written = Musl.write(fd, pointer, remaining)
                #else
                let written = Darwin.write(fd, pointer, remaining)
                #endif
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                remaining -= written
                pointer += written
            }
        }
    }
}
