// redis-load: drives a Redis server with AsynqRedis the way `redis-benchmark` does (N concurrent
// callers, a fixed number of requests, optional pipelining) and runs `redis-benchmark` against
// the same server in the same run, so the two can be compared.
//
//   swift build -c release --product redis-load
//   .build/release/redis-load                       # starts a throwaway redis-server
//   .build/release/redis-load --port 6379 --json    # an existing server

import ArgumentParser
import AsynqRedis
import Foundation
import NIOCore
import NIOPosix
import ThrowawayRedis

struct RedisLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-load",
        abstract: "Measure AsynqRedis throughput next to redis-benchmark on the same server.",
        discussion: """
            Each of --clients callers is a Swift task that sends its share of --requests, one \
            command at a time with `send` (--pipeline 1) or P at a time with `pipeline` \
            (--pipeline P). Then `redis-benchmark -c CLIENTS -n REQUESTS -P P -t ping_mbulk,set,get` \
            runs against the same server. Every configuration runs --runs times; the medians are \
            compared. Without --port a throwaway redis-server (no persistence) is started on a free \
            port of 127.0.0.1 and stopped at the end.
            """
    )

    @Option(help: "Host of an existing server (only with --port).")
    var host = "127.0.0.1"

    @Option(help: "Port of an existing server; without it a throwaway redis-server is started.")
    var port: Int?

    @Option(help: "Concurrent callers (redis-benchmark: parallel connections).")
    var clients = 50

    @Option(help: "Requests per test.")
    var requests = 200_000

    @Option(help: "Commands per pipeline, comma-separated: each value is a configuration.")
    var pipeline = "1,16"

    @Option(help: "Tests, comma-separated: ping, set, get.")
    var tests = "ping,set,get"

    @Option(help: "Size of the SET value in bytes (redis-benchmark's -d).")
    var dataSize = 3

    @Option(help: "Runs of every configuration; medians are reported.")
    var runs = 3

    @Option(help: "RedisConnectionOptions.maxConnections (default: the client's default).")
    var maxConnections: Int?

    @Option(help: "RedisConnectionOptions.pipeliningThreshold (default: the client's default).")
    var pipeliningThreshold: Int?

    @Option(help: "Event loop threads for the client (default: NIO's singleton group, one per core).")
    var eventLoopThreads: Int?

    @Flag(inversion: .prefixedNo, help: "Also run redis-benchmark.")
    var redisBenchmark = true

    @Option(help: "The redis-benchmark executable.")
    var redisBenchmarkPath = "redis-benchmark"

    @Option(help: "The redis-server executable (for the throwaway server).")
    var redisServerPath = "redis-server"

    @Flag(help: "Print the results as JSON instead of a table.")
    var json = false

    func validate() throws {
        guard clients > 0 else { throw ValidationError("--clients must be positive") }
        guard requests >= clients else { throw ValidationError("--requests must be at least --clients") }
        guard runs > 0 else { throw ValidationError("--runs must be positive") }
        guard dataSize >= 0 else { throw ValidationError("--data-size must not be negative") }
        _ = try pipelines()
        _ = try loadTests()
    }

    func pipelines() throws -> [Int] {
        let values = pipeline.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        let sizes = values.compactMap { $0 }
        guard !sizes.isEmpty, sizes.count == values.count, sizes.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--pipeline takes positive integers separated by commas, e.g. 1,16")
        }
        return sizes
    }

    func loadTests() throws -> [LoadTest] {
        try tests.split(separator: ",").map { name in
            guard let test = LoadTest(rawValue: name.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw ValidationError("unknown test '\(name)'; known: ping, set, get")
            }
            return test
        }
    }

    func run() async throws {
        let pipelines = try pipelines()
        let tests = try loadTests()
        if let port {
            try await measure(host: host, port: port, pipelines: pipelines, tests: tests, server: nil)
        } else {
            let server = try await ThrowawayRedisServer.start(executable: redisServerPath)
            do {
                try await measure(
                    host: "127.0.0.1", port: server.port, pipelines: pipelines, tests: tests, server: server)
            } catch {
                await server.stop()
                throw error
            }
            await server.stop()
        }
    }

    private func measure(
        host: String,
        port: Int,
        pipelines: [Int],
        tests: [LoadTest],
        server: ThrowawayRedisServer?
    ) async throws {
        let group: MultiThreadedEventLoopGroup? = eventLoopThreads.map {
            MultiThreadedEventLoopGroup(numberOfThreads: $0)
        }
        var options = RedisConnectionOptions.standalone(host: host, port: port)
        if let maxConnections { options.maxConnections = max(1, maxConnections) }
        if let pipeliningThreshold { options.pipeliningThreshold = max(1, pipeliningThreshold) }
        let driver = LoadDriver(
            options: options,
            eventLoopGroup: group ?? MultiThreadedEventLoopGroup.singleton,
            clients: clients,
            requests: requests,
            value: String(repeating: "x", count: dataSize)
        )
        let benchmark: RedisBenchmarkRunner? =
            redisBenchmark
            ? try RedisBenchmarkRunner(
                executable: redisBenchmarkPath,
                host: host,
                port: port,
                clients: clients,
                requests: requests,
                dataSize: dataSize
            ) : nil

        do {
            let version = try await driver.serverVersion()
            var rows: [ResultRow] = []
            for pipelineSize in pipelines {
                for test in tests {
                    rows.append(ResultRow(test: test.rawValue, pipeline: pipelineSize))
                }
            }
            for run in 1...runs {
                for pipelineSize in pipelines {
                    for test in tests {
                        log("run \(run)/\(runs) -P \(pipelineSize) \(test.rawValue): AsynqRedis…")
                        let (rps, connections) = try await driver.measure(test: test, pipeline: pipelineSize)
                        log(" \(format(rps)) rps, \(connections.map { "\($0)" } ?? "?") connection(s)\n")
                        update(&rows, test: test, pipeline: pipelineSize) { row in
                            row.oursRPS.append(rps)
                            if let connections { row.oursConnections.append(connections) }
                        }
                    }
                    if let benchmark {
                        log("run \(run)/\(runs) -P \(pipelineSize): redis-benchmark…")
                        let measured = try await benchmark.run(pipeline: pipelineSize, tests: tests)
                        log(
                            " " + tests.map { "\($0.rawValue) \(format(measured[$0] ?? 0))" }.joined(separator: ", ")
                                + "\n")
                        for test in tests {
                            if let rps = measured[test] {
                                update(&rows, test: test, pipeline: pipelineSize) { $0.redisBenchmarkRPS.append(rps) }
                            }
                        }
                    }
                }
            }
            let report = Report(
                server: server == nil ? "\(host):\(port)" : "throwaway redis-server on 127.0.0.1:\(port)",
                redisVersion: version,
                clients: clients,
                requests: requests,
                dataSize: dataSize,
                runs: runs,
                maxConnections: options.maxConnections,
                pipeliningThreshold: options.pipeliningThreshold,
                eventLoopThreads: eventLoopThreads ?? System.coreCount,
                cores: System.coreCount,
                results: rows.map { $0.summarized() }
            )
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.table())
            }
        } catch {
            try? await group?.shutdownGracefully()
            throw error
        }
        try? await group?.shutdownGracefully()
    }

    private func update(_ rows: inout [ResultRow], test: LoadTest, pipeline: Int, _ body: (inout ResultRow) -> Void) {
        if let index = rows.firstIndex(where: { $0.test == test.rawValue && $0.pipeline == pipeline }) {
            body(&rows[index])
        }
    }
}

// MARK: - The tests

enum LoadTest: String, CaseIterable, Sendable {
    case ping, set, get

    /// The key redis-benchmark uses when it is not given -r.
    static let key = "key:__rand_int__"

    func command(value: String) -> RedisCommand {
        switch self {
        case .ping: RedisCommand("PING")
        case .set: RedisCommand("SET", Self.key, value)
        case .get: RedisCommand("GET", Self.key)
        }
    }

    /// The name of the same test in redis-benchmark (`-t` and its output).
    var redisBenchmarkName: String {
        switch self {
        case .ping: "PING_MBULK"
        case .set: "SET"
        case .get: "GET"
        }
    }
}

// MARK: - AsynqRedis load

struct LoadDriver: Sendable {
    let options: RedisConnectionOptions
    let eventLoopGroup: any EventLoopGroup
    let clients: Int
    let requests: Int
    let value: String

    func serverVersion() async throws -> String? {
        let client = try RedisClient(options: options, eventLoopGroup: eventLoopGroup)
        do {
            let info = try await client.send(RedisCommand("INFO", "server")).string ?? ""
            await client.close()
            return infoField("redis_version", in: info)
        } catch {
            await client.close()
            throw error
        }
    }

    /// Requests per second of one test, and the connections the client had open to the server at
    /// the end: a fresh client, warmed up (so the pool has grown to what this load makes it open,
    /// as redis-benchmark connects before its clock starts), then timed.
    func measure(test: LoadTest, pipeline: Int) async throws -> (rps: Double, connections: Int?) {
        let client = try RedisClient(options: options, eventLoopGroup: eventLoopGroup)
        do {
            let warmUp = min(requests, max(10_000, clients * pipeline * 20))
            _ = try await drive(client, test: test, pipeline: pipeline, requests: warmUp)
            let elapsed = try await drive(client, test: test, pipeline: pipeline, requests: requests)
            let info = try await client.send(RedisCommand("INFO", "clients")).string ?? ""
            await client.close()
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            return (Double(requests) / seconds, Int(infoField("connected_clients", in: info) ?? ""))
        } catch {
            await client.close()
            throw error
        }
    }

    private func drive(_ client: RedisClient, test: LoadTest, pipeline: Int, requests: Int) async throws -> Duration {
        let clock = ContinuousClock()
        let value = self.value
        let clients = self.clients
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<clients {
                let share = requests / clients + (index < requests % clients ? 1 : 0)
                group.addTask {
                    var left = share
                    if pipeline == 1 {
                        while left > 0 {
                            try await client.send(test.command(value: value))
                            left -= 1
                        }
                        return
                    }
                    var commands: [RedisCommand] = []
                    commands.reserveCapacity(pipeline)
                    while left > 0 {
                        let count = min(pipeline, left)
                        commands.removeAll(keepingCapacity: true)
                        for _ in 0..<count { commands.append(test.command(value: value)) }
                        for result in try await client.pipeline(commands) { _ = try result.get() }
                        left -= count
                    }
                }
            }
            try await group.waitForAll()
        }
        return clock.now - start
    }
}

// MARK: - Results

struct ResultRow {
    let test: String
    let pipeline: Int
    var oursRPS: [Double] = []
    var oursConnections: [Int] = []
    var redisBenchmarkRPS: [Double] = []

    init(test: String, pipeline: Int) {
        self.test = test
        self.pipeline = pipeline
    }

    func summarized() -> Report.Row {
        let ours = median(oursRPS)
        let theirs = redisBenchmarkRPS.isEmpty ? nil : median(redisBenchmarkRPS)
        return Report.Row(
            test: test,
            pipeline: pipeline,
            oursRPS: oursRPS,
            oursConnections: oursConnections,
            redisBenchmarkRPS: redisBenchmarkRPS,
            oursMedianRPS: ours,
            redisBenchmarkMedianRPS: theirs,
            ratio: theirs.flatMap { $0 > 0 ? ours / $0 : nil }
        )
    }
}

struct Report: Codable {
    struct Row: Codable {
        let test: String
        let pipeline: Int
        let oursRPS: [Double]
        /// Connections AsynqRedis had open to the server after each run (`INFO clients`, the
        /// one asking included); redis-benchmark uses one per client.
        let oursConnections: [Int]
        let redisBenchmarkRPS: [Double]
        let oursMedianRPS: Double
        let redisBenchmarkMedianRPS: Double?
        /// Ours / redis-benchmark, medians.
        let ratio: Double?
    }

    let server: String
    let redisVersion: String?
    let clients: Int
    let requests: Int
    let dataSize: Int
    let runs: Int
    let maxConnections: Int
    let pipeliningThreshold: Int
    let eventLoopThreads: Int
    let cores: Int
    let results: [Row]

    func table() -> String {
        var lines = [
            "\(server), redis \(redisVersion ?? "?"), \(cores) cores",
            "\(clients) callers, \(requests) requests per test, \(dataSize)-byte values, median of \(runs) run(s); "
                + "pool: maxConnections \(maxConnections), pipeliningThreshold \(pipeliningThreshold), "
                + "\(eventLoopThreads) event loop thread(s)",
            "",
        ]
        let header = ["test", "-P", "AsynqRedis rps", "redis-benchmark rps", "ratio", "connections", "AsynqRedis runs"]
        var cells: [[String]] = [header]
        for row in results {
            cells.append([
                row.test.uppercased(),
                "\(row.pipeline)",
                format(row.oursMedianRPS),
                row.redisBenchmarkMedianRPS.map(format) ?? "-",
                row.ratio.map { String(format: "%.0f%%", $0 * 100) } ?? "-",
                row.oursConnections.map { "\($0)" }.joined(separator: "/"),
                row.oursRPS.map(format).joined(separator: " "),
            ])
        }
        let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        for (index, row) in cells.enumerated() {
            let padded = row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                // Numbers right-aligned, text left-aligned.
                return column == 0 || column == header.count - 1 ? cell + padding : padding + cell
            }
            lines.append(padded.joined(separator: "  "))
            if index == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        return lines.joined(separator: "\n")
    }
}

/// `name:value` from the text of an `INFO` reply.
func infoField(_ name: String, in info: String) -> String? {
    let prefix = name + ":"
    return info.split(whereSeparator: \.isNewline)
        .first { $0.hasPrefix(prefix) }
        .map { String($0.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

func format(_ rps: Double) -> String {
    String(format: "%.0f", rps)
}

func log(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// Top-level code in main.swift would pick ParsableCommand's synchronous `main()`, which does
/// not call the async `run()`; inside an async function the async overload wins.
func runAsyncCommand<Command: AsyncParsableCommand>(_ command: Command.Type) async {
    await command.main(nil)
}

await runAsyncCommand(RedisLoad.self)
