import Foundation
import ThrowawayRedis

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `redis-benchmark -q` and reads its requests per second.
struct RedisBenchmarkRunner {
    let executable: String
    let host: String
    let port: Int
    let clients: Int
    let requests: Int
    let dataSize: Int

    init(executable: String, host: String, port: Int, clients: Int, requests: Int, dataSize: Int) throws {
        guard let path = findExecutable(executable) else {
            throw LoadError(
                "\(executable) not found on PATH: install it with 'apt-get install -y redis-tools', or pass --no-redis-benchmark"
            )
        }
        self.executable = path
        self.host = host
        self.port = port
        self.clients = clients
        self.requests = requests
        self.dataSize = dataSize
    }

    func arguments(pipeline: Int, tests: [LoadTest]) -> [String] {
        var arguments = ["-h", host, "-p", "\(port)", "-c", "\(clients)", "-n", "\(requests)", "-P", "\(pipeline)"]
        if dataSize != 3 { arguments += ["-d", "\(dataSize)"] }
        arguments += ["-t", tests.map { $0.redisBenchmarkName.lowercased() }.joined(separator: ","), "-q"]
        return arguments
    }

    func run(pipeline: Int, tests: [LoadTest]) async throws -> [LoadTest: Double] {
        let arguments = arguments(pipeline: pipeline, tests: tests)
        // stdout goes to a file (read after the exit), stderr to ours; stdin is /dev/null.
        let outputFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("redis-load-\(getpid())-benchmark.txt").path
        defer { try? FileManager.default.removeItem(atPath: outputFile) }
        let outputFD = try openForWriting(outputFile)
        defer { close(outputFD) }
        let input = try openDevNull()
        defer { close(input) }
        let child = try ChildProcess(path: executable, arguments: arguments, stdin: input, stdout: outputFD, stderr: 2)
        let status = await child.waitForExit()
        let output = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw LoadError(
                "redis-benchmark \(arguments.joined(separator: " ")) failed (status \(status.map { "\($0)" } ?? "?")):\n\(output)"
            )
        }
        let measured = Self.parse(output)
        var result: [LoadTest: Double] = [:]
        for test in tests {
            guard let rps = measured[test.redisBenchmarkName] else {
                throw LoadError("no \(test.redisBenchmarkName) result in the output of redis-benchmark:\n\(output)")
            }
            result[test] = rps
        }
        return result
    }

    /// Lines like `SET: 138121.55 requests per second, p50=0.191 msec` (progress lines, which
    /// end in `\r`, are skipped).
    static func parse(_ output: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            guard let colon = line.firstIndex(of: ":"), let suffix = line.range(of: " requests per second") else {
                continue
            }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let number = line[line.index(after: colon)..<suffix.lowerBound].trimmingCharacters(in: .whitespaces)
            if let rps = Double(number) { result[name] = rps }
        }
        return result
    }
}
