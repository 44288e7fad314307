import Asynq
import AsynqRedis
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// A worker process for tests that need a real, separate process running an AsynqServer (e.g.
// one killed with SIGKILL in the middle of a task). Every handler call prints
// `started <task id> retry=<n>` on standard output, then blocks until the process ends.
//
//     asynq-test-worker --redis-port 6379 [--queue default] [--lease 30] [--heartbeat 5]
//
// --lease (whole seconds) and --heartbeat (seconds) set the server's lease duration and
// heartbeat interval (Go's fixed 30 s and 5 s by default).

struct WorkerArguments {
    var redisPort = 6379
    var queue = "default"
    var leaseSeconds: Int64 = 30
    var heartbeatSeconds = 5.0

    init(_ arguments: [String]) throws {
        var remaining = arguments[...]
        while let flag = remaining.popFirst() {
            guard let value = remaining.popFirst() else { throw UsageError("\(flag) needs a value") }
            switch flag {
            case "--redis-port": redisPort = try Self.parse(value, flag, Int.init)
            case "--queue": queue = value
            case "--lease": leaseSeconds = try Self.parse(value, flag, Int64.init)
            case "--heartbeat": heartbeatSeconds = try Self.parse(value, flag, Double.init)
            default: throw UsageError("unknown option \(flag)")
            }
        }
    }

    static func parse<T>(_ text: String, _ flag: String, _ make: (String) -> T?) throws -> T {
        guard let value = make(text) else { throw UsageError("invalid \(flag) \(text)") }
        return value
    }
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// One line on standard output, written at once (FileHandle does not buffer).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

do {
    let arguments = try WorkerArguments(Array(CommandLine.arguments.dropFirst()))
    var logger = Logger(label: "asynq-test-worker")
    logger.logLevel = .critical
    var configuration = AsynqServer.Configuration(concurrency: 1, queues: [arguments.queue: 1], logger: logger)
    configuration.taskCheckInterval = .milliseconds(100)
    configuration.leaseDuration = .seconds(arguments.leaseSeconds)
    configuration.heartbeatInterval = .seconds(arguments.heartbeatSeconds)
    let server = try AsynqServer(
        redis: .standalone(host: "127.0.0.1", port: arguments.redisPort),
        configuration: configuration
    ) { _, context in
        say("started \(context.taskID) retry=\(context.retryCount)")
        try await Task.sleep(for: .seconds(24 * 3600))
    }
    say("worker \(server.serverID) pid \(getpid())")
    try await server.runUntilSignalled()
} catch {
    FileHandle.standardError.write(Data("asynq-test-worker: \(error)\n".utf8))
    exit(1)
}
