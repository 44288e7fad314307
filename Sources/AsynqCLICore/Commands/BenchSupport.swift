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

/// The benchmark payload of `bench/WORKLOADS.md`: exactly 100 bytes of JSON
/// `{"id":"<8 digits>","ts":<19-digit unix ns>,"pad":"xxx…"}`. The fields sit at fixed offsets,
/// so the handler reads them without a JSON decoder.
enum BenchPayload {
    static let size = 100
    static let idOffset = 7
    static let idDigits = 8
    static let timestampOffset = 22
    static let timestampDigits = 19

    private static let head = Array(#"{"id":""#.utf8)
    private static let middle = Array(#"","ts":"#.utf8)
    private static let tail = Array(#","pad":""#.utf8)
    private static let padding = size - head.count - idDigits - middle.count - timestampDigits - tail.count - 2

    static func make(id: Int, timestamp: Int64) -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        bytes += head
        appendDigits(Int64(id), count: idDigits, to: &bytes)
        bytes += middle
        appendDigits(timestamp, count: timestampDigits, to: &bytes)
        bytes += tail
        bytes += repeatElement(UInt8(ascii: "x"), count: padding)
        bytes += Array(#""}"#.utf8)
        return Data(bytes)
    }

    private static func appendDigits(_ value: Int64, count: Int, to bytes: inout [UInt8]) {
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: count)
        var rest = max(0, value)
        var index = count - 1
        while rest > 0 && index >= 0 {
            digits[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            index -= 1
        }
        bytes += digits
    }

    /// The ID and the timestamp of a payload; nil when it is not a benchmark payload.
    static func parse(_ payload: Data?) -> (id: Int, timestamp: Int64)? {
        guard let payload, payload.count == size else { return nil }
        return payload.withUnsafeBytes { raw -> (Int, Int64)? in
            guard let id = number(raw, idOffset, idDigits),
                let timestamp = number(raw, timestampOffset, timestampDigits)
            else { return nil }
            return (Int(id), timestamp)
        }
    }

    private static func number(_ raw: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> Int64? {
        var value: Int64 = 0
        for index in offset..<(offset + count) {
            let byte = raw[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}

/// Wall-clock time in Unix nanoseconds (W3 compares times taken in two processes).
enum BenchClock {
    static func unixNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}

/// Which IDs were seen how often (every ID must be seen exactly once).
struct BenchIDSet {
    private var words: [UInt64]
    let expected: Int
    private(set) var seen = 0
    private(set) var duplicates = 0
    private(set) var invalid = 0

    init(expected: Int) {
        self.expected = expected
        words = [UInt64](repeating: 0, count: (expected + 63) / 64)
    }

    /// Records one sighting; returns false for a duplicate or an ID out of range.
    @discardableResult
    mutating func insert(_ id: Int) -> Bool {
        guard id >= 0, id < expected else {
            invalid += 1
            return false
        }
        let bit = UInt64(1) << UInt64(id % 64)
        if words[id / 64] & bit != 0 {
            duplicates += 1
            return false
        }
        words[id / 64] |= bit
        seen += 1
        return true
    }

    var missing: Int { expected - seen }
    var isExact: Bool { seen == expected && duplicates == 0 && invalid == 0 }
}

/// Facts about a process read from `/proc` (Linux).
enum ProcFS {
    /// Peak resident set size (`VmHWM`) in bytes.
    static func peakRSS(pid: Int32) -> Int? { statusField("VmHWM:", pid: pid) }

    /// Resident anonymous memory (`RssAnon`: heap and stacks, the process' private memory; the
    /// rest of the RSS is mapped files, mostly the executable's shared code pages) in bytes.
    static func anonymousRSS(pid: Int32) -> Int? { statusField("RssAnon:", pid: pid) }

    /// A `kB` field of `/proc/<pid>/status`, in bytes.
    private static func statusField(_ name: String, pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
        }
        return nil
    }

    /// User plus system CPU time consumed so far.
    static func cpuTime(pid: Int32) -> Duration? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]) else { return nil }
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        guard ticks > 0 else { return nil }
        return .nanoseconds((user + system) * 1_000_000_000 / ticks)
    }

    /// User plus system CPU time this process consumed so far.
    static func ownCPUTime() -> Duration {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let micros =
            (Int64(usage.ru_utime.tv_sec) + Int64(usage.ru_stime.tv_sec)) * 1_000_000 + Int64(usage.ru_utime.tv_usec)
            + Int64(usage.ru_stime.tv_usec)
        return .microseconds(micros)
    }

    /// The path of the running executable.
    static func currentExecutable() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return CommandLine.arguments.first ?? "asynq"
    }

    /// The 1-minute load average.
    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
        return text.split(separator: " ").first.map(String.init) ?? "?"
    }
}

/// A child process with a pipe to its standard input and one from its standard output (read
/// line by line); standard error is shared with ours.
final class BenchChild: Sendable {
    let pid: pid_t
    private let input: Mutex<Int32>
    private let output: Int32

    private init(pid: pid_t, input: Int32, output: Int32) {
        self.pid = pid
        self.input = Mutex(input)
        self.output = output
    }

    /// Starts `arguments` (the first is the executable's path), runs `body` with the child and
    /// the lines it prints, then closes its standard input and waits for it to exit (SIGKILL
    /// after `exitGrace`). `timeout` bounds the whole run: when it passes the child is killed,
    /// so `body` sees the end of the output.
    static func run<T: Sendable>(
        _ arguments: [String],
        environment: [String],
        threads: NIOThreadPool,
        timeout: Duration,
        exitGrace: Duration = .seconds(20),
        _ body: (BenchChild, AsyncStream<String>) async throws -> T
    ) async throws -> T {
        guard let executable = arguments.first else { throw CLIError("no command to start") }
        let stdinPipe = try ProcessSpawner.makePipe()
        let stdoutPipe: (read: Int32, write: Int32)
        do {
            stdoutPipe = try ProcessSpawner.makePipe()
        } catch {
            close(stdinPipe.read)
            close(stdinPipe.write)
            throw error
        }
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                path: executable,
                arguments: arguments,
                environment: environment,
                stdin: stdinPipe.read,
                stdout: stdoutPipe.write,
                stderr: STDERR_FILENO
            )
        } catch {
            for fd in [stdinPipe.read, stdinPipe.write, stdoutPipe.read, stdoutPipe.write] { close(fd) }
            throw error
        }
        close(stdinPipe.read)
        close(stdoutPipe.write)
        let child = BenchChild(pid: pid, input: stdinPipe.write, output: stdoutPipe.read)
        let (lines, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .unbounded)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await child.readLines(into: continuation, threads: threads)
            }
            group.addTask {
                // The watchdog: kills the child when the run takes too long (cancelled otherwise).
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled {
                    FileDescriptorWriter.write("bench: \(arguments.first ?? "child") timed out; killing it\n", to: 2)
                    _ = kill(pid, SIGKILL)
                }
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(child, lines))
            } catch {
                result = .failure(error)
            }
            child.closeInput()
            let exited = await child.waitForExit(threads: threads, grace: exitGrace)
            group.cancelAll()
            try await group.waitForAll()
            let value = try result.get()
            if !exited { throw CLIError("\(executable) did not exit and was killed") }
            return value
        }
    }

    /// Closes the child's standard input (the signal to finish).
    func closeInput() {
        let fd = input.withLock { fd -> Int32 in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { close(fd) }
    }

    private func readLines(into continuation: AsyncStream<String>.Continuation, threads: NIOThreadPool) async {
        let output = self.output
        _ = try? await threads.runIfActive {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(output, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                for byte in buffer[0..<count] {
                    if byte == UInt8(ascii: "\n") {
                        continuation.yield(String(decoding: pending, as: UTF8.self))
                        pending.removeAll(keepingCapacity: true)
                    } else {
                        pending.append(byte)
                    }
                }
            }
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            close(output)
        }
        continuation.finish()
    }

    /// Waits for the exit; SIGKILL after `grace`. Returns whether it exited on its own.
    private func waitForExit(threads: NIOThreadPool, grace: Duration) async -> Bool {
        let pid = self.pid
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try? await threads.runIfActive {
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: grace)
                return false
            }
            let first = await group.next() ?? true
            if !first { _ = kill(pid, SIGKILL) }
            group.cancelAll()
            await group.waitForAll()
            return first
        }
    }
}

/// Runs `redis-benchmark` and returns its requests per second.
enum RedisBenchmarkRunner {
    static func setRequestsPerSecond(
        executable: String,
        host: String,
        port: Int,
        password: String?,
        username: String?,
        threads: NIOThreadPool
    ) async throws -> Double {
        var arguments = [
            executable, "-q", "-n", "200000", "-t", "set", "-P", "1", "-c", "50", "-h", host, "-p", String(port),
        ]
        if let username { arguments += ["--user", username] }
        if let password { arguments += ["-a", password] }
        let environment = ["PATH=/usr/local/bin:/usr/bin:/bin"]
        let output = try await BenchChild.run(
            arguments,
            environment: environment,
            threads: threads,
            timeout: .seconds(300)
        ) { _, lines in
            var all: [String] = []
            for await line in lines { all.append(line) }
            return all
        }
        // `-q` prints "SET: 105597.02 requests per second, p50=0.255 msec" (progress lines end
        // in carriage returns before it).
        for line in output.reversed() {
            for part in line.split(separator: "\r").reversed() where part.contains("requests per second") {
                let words = part.split(separator: " ")
                if let index = words.firstIndex(of: "requests"), index > 0, let value = Double(words[index - 1]) {
                    return value
                }
            }
        }
        throw CLIError("could not read the redis-benchmark result from: \(output.joined(separator: " | "))")
    }
}

/// Order statistics of a sample.
enum BenchStatistics {
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        if sorted.count % 2 == 1 { return sorted[sorted.count / 2] }
        return (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// The nearest-rank percentile `p` (0…100) of sorted values.
    static func percentile(_ sorted: [Int64], _ p: Double) -> Int64 {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}
