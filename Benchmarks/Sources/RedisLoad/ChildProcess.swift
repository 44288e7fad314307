#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The path of `name` (a path, or a name looked up in `PATH`), if it is an executable file.
func findExecutable(_ name: String) -> String? {
    if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A started child process: its exit status arrives as an event, never by blocking a thread.
struct ChildProcess {
    let process: Process
    private let exits: AsyncStream<Int32>
    private let output: AsyncStream<Data>?

    /// Starts `executable` with `arguments`; stdout is collected when `captureOutput`, otherwise
    /// discarded. `standardInput` is given to the child as is (nil: /dev/null).
    init(executable: String, arguments: [String], captureOutput: Bool, standardInput: Pipe? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = standardInput ?? FileHandle.nullDevice
        let (exits, exitContinuation) = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { process in
            exitContinuation.yield(process.terminationStatus)
            exitContinuation.finish()
        }
        if captureOutput {
            let pipe = Pipe()
            let (output, outputContinuation) = AsyncStream<Data>.makeStream()
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    outputContinuation.finish()
                } else {
                    outputContinuation.yield(data)
                }
            }
            process.standardOutput = pipe
            self.output = output
        } else {
            process.standardOutput = FileHandle.nullDevice
            self.output = nil
        }
        try process.run()
        self.process = process
        self.exits = exits
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits for the exit; returns the exit status and everything the process printed on stdout.
    func waitForExit() async -> (status: Int32, output: String) {
        var data = Data()
        if let output {
            for await chunk in output { data.append(chunk) }
        }
        var status: Int32 = -1
        for await code in exits { status = code }
        return (status, String(decoding: data, as: UTF8.self))
    }

    /// Waits for the exit for at most `timeout`; true when the process exited.
    func waitForExit(timeout: Duration) async -> Bool {
        let exits = self.exits
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in exits {}
                return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
