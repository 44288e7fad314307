import ArgumentParser
import Asynq
import AsynqRedis
import Foundation
import NIOPosix

/// `asynq bench`: the workloads of `bench/WORKLOADS.md` (W1a–W4) against one Redis, each figure
/// next to its ratio to `redis-benchmark -q -n 200000 -t set -P 1` (50 clients) measured against
/// the same server in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the benchmark workloads (enqueue, drain, latency, memory)",
        discussion: """
            Workloads (task type bench:noop, queue default, default options, 100-byte JSON payloads,
            FLUSHALL before each; every run is verified: no errors, processed = enqueued, every ID
            seen exactly once — a failed verification ends with exit status 1):

              W1a  enqueue 20,000 tasks, one sequential producer             tasks/s
              W1b  enqueue 20,000 tasks, 8 concurrent producers, one client  tasks/s
              W1c  batch-enqueue 20,000 tasks in batches of 100               tasks/s
              W2a  drain 50,000 tasks, one worker process, concurrency 10    tasks/s
              W2b  the same with concurrency 50                               tasks/s
              W3   1,000 tasks/s for 10 s into an idle worker (concurrency 10, defaults)
                   latency from just before enqueue to the handler: p50/p90/p99/max
              W4   peak RSS (VmHWM) of the W2a worker process                 MiB

            W2 and W3 run the worker as a separate process ('asynq bench-worker'). Without --redis
            a throwaway redis-server (like 'asynq dev') is started and removed afterwards.
            redis-benchmark must be on PATH. Like every asynq command, both processes run Swift
            concurrency on SwiftNIO's event loops; ASYNQ_GLOBAL_EXECUTOR=dispatch measures the
            default executor instead.

            Examples:
              $ asynq bench
              $ asynq bench --only W2a,W3 --runs 3
              $ asynq bench --redis 127.0.0.1:6379 --json
            """
    )

    @Option(help: "Use this Redis (host:port or redis:// URI; it is FLUSHALLed) instead of a throwaway redis-server")
    var redis: String?

    @Option(help: "Only these workloads, comma-separated (W1a,W1b,W1c,W2a,W2b,W3,W4; W4 runs W2a)")
    var only: String?

    @Flag(help: "Print the result as JSON")
    var json = false

    @Option(help: "Repeat everything this many times and report medians")
    var runs = 1

    @Option(help: .hidden)
    var scale = 1.0

    @Option(help: .hidden)
    var workerPrefix: String?

    @Option(help: .hidden)
    var timeoutSeconds = 600

    func run() async throws {
        let console = Console.current
        let workloads = try BenchWorkload.parse(only)
        guard runs >= 1 else { throw CLIError("--runs must be at least 1") }
        guard scale > 0 else { throw CLIError("--scale must be positive") }
        let path = console.environment["PATH"]
        guard let benchmark = ProcessSpawner.findExecutable("redis-benchmark", path: path) else {
            throw CLIError("redis-benchmark not found on PATH (apt-get install -y redis-tools)")
        }
        let threads = NIOThreadPool(numberOfThreads: 4)
        threads.start()
        defer { threads.shutdownGracefully { _ in } }

        var throwaway: ThrowawayRedis?
        let uri: String
        if let redis {
            uri = redis
        } else {
            guard let executable = ProcessSpawner.findExecutable("redis-server", path: path) else {
                throw CLIError("redis-server not found on PATH (apt-get install -y redis-server) or pass --redis URL")
            }
            let server = try await ThrowawayRedis.start(executable: executable, threads: threads)
            if !json { console.print("redis-server started on 127.0.0.1:\(server.port) (pid \(server.pid))") }
            throwaway = server
            uri = "127.0.0.1:\(server.port)"
        }
        let globals = try GlobalOptions.parse(["--uri", uri])
        let options = try globals.connectionOptions()
        let bench = BenchRunner(
            options: options,
            uri: uri,
            redisBenchmark: benchmark,
            threads: threads,
            scale: scale,
            workerPrefix: workerPrefix?.split(separator: " ").map(String.init) ?? [],
            timeout: .seconds(timeoutSeconds),
            log: { line in if !json { console.print(line) } }
        )

        let results: [BenchRunResult]
        if let throwaway {
            results = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await throwaway.drainOutput() }
                do {
                    let results = try await bench.run(workloads, runs: runs, redisPID: throwaway.pid)
                    await throwaway.stop()
                    try await group.waitForAll()
                    return results
                } catch {
                    await throwaway.stop()
                    throw error
                }
            }
        } else {
            results = try await bench.run(workloads, runs: runs, redisPID: nil)
        }
        let summary = BenchSummary(runs: results, workloads: workloads)
        if json {
            console.print(summary.json())
        } else {
            console.write(
                summary.table(
                    loadAverage: ProcFS.loadAverage(),
                    executor: AsynqCLI.executorDescription(environment: console.environment)))
        }
        if !summary.allVerified {
            console.printError("bench: verification failed (see above)")
            throw CLIExit(1)
        }
    }
}

/// The workloads of `bench/WORKLOADS.md`.
enum BenchWorkload: String, CaseIterable, Sendable, Comparable {
    case w1a = "W1a"
    case w1b = "W1b"
    case w1c = "W1c"
    case w2a = "W2a"
    case w2b = "W2b"
    case w3 = "W3"
    case w4 = "W4"

    static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
    }

    static func parse(_ text: String?) throws -> [BenchWorkload] {
        guard let text else { return allCases }
        var chosen = Set<BenchWorkload>()
        for item in text.split(separator: ",") {
            let name = item.trimmingCharacters(in: .whitespaces)
            guard let workload = allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
                throw CLIError(
                    "unknown workload \(CLIFormat.quote(name)) (expected \(allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            chosen.insert(workload)
        }
        guard !chosen.isEmpty else { throw CLIError("--only names no workload") }
        return chosen.sorted()
    }

    /// Go asynq's recorded figure (`bench/WORKLOADS.md`): tasks/s, ms (W3 p50), MiB (W4).
    var goFigure: Double {
        switch self {
        case .w1a: 19_727
        case .w1b: 83_477
        case .w1c: 146_138
        case .w2a: 16_288
        case .w2b: 16_327
        case .w3: 544
        case .w4: 17.6
        }
    }

    /// redis-benchmark's SET -P 1 figure in the run that measured Go asynq (WORKLOADS.md).
    static let goRunRedisBenchmark = 105_597.0

    /// Go's figure as a ratio to redis-benchmark in its own run: the machine-independent form
    /// of Go's result, compared with our ratio in the same run as ours.
    var goRatio: Double { goFigure / Self.goRunRedisBenchmark }

    /// The floor as a multiple of Go's result (throughput workloads only).
    var floorMultiple: Double {
        switch self {
        case .w1a, .w1c: 1.0
        case .w1b: 1.2
        case .w2a, .w2b: 2.0
        case .w3, .w4: 0
        }
    }

    /// The floor of `bench/WORKLOADS.md` as a multiple of Go's figure (W3, W4: absolute).
    var target: String {
        switch self {
        case .w1a, .w1c: "≥ 1.0× Go"
        case .w1b: "≥ 1.2× Go"
        case .w2a, .w2b: "≥ 2.0× Go"
        case .w3: "p50 ≤ 1 ms, p99 ≤ 2 ms"
        case .w4: "≤ 30 MiB"
        }
    }
}

/// One throughput figure.
struct BenchThroughput: Sendable {
    var tasksPerSecond: Double
    var verified: Bool
    var note: String = ""
}

/// The W3 figures, in milliseconds.
struct BenchLatency: Sendable {
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double
    var verified: Bool
}

/// Extra observations of a drain (not part of the JSON).
struct BenchDrainCPU: Sendable {
    /// redis-server CPU time / wall time during the drain (1.0 = one core).
    var redis: Double?
    /// The worker process' CPU time / wall time.
    var worker: Double?
}

/// Everything one run measured.
struct BenchRunResult: Sendable {
    var redisBenchmarkSet: Double = 0
    var throughput: [BenchWorkload: BenchThroughput] = [:]
    var latency: BenchLatency?
    var peakRSSMiB: Double?
    var peakRSSVerified = true
    var drainCPU: [BenchWorkload: BenchDrainCPU] = [:]
}
