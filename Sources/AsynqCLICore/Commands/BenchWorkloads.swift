import Asynq
import AsynqRedis
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the workloads of `asynq bench` against one Redis.
struct BenchRunner: Sendable {
    let options: RedisConnectionOptions
    /// How the worker process reaches the same Redis (`--redis` of `bench-worker`).
    let uri: String
    let redisBenchmark: String
    let threads: NIOThreadPool
    let scale: Double
    /// Words put before the worker's command line (profiling: `valgrind --tool=callgrind`).
    let workerPrefix: [String]
    let timeout: Duration
    let log: @Sendable (String) -> Void

    static let taskType = "bench:noop"
    static let queue = "default"

    private func scaled(_ count: Int) -> Int { max(1, Int((Double(count) * scale).rounded())) }

    func run(_ workloads: [BenchWorkload], runs: Int, redisPID: Int32?) async throws -> [BenchRunResult] {
        var redisPID = redisPID
        if redisPID == nil { redisPID = try await discoverRedisPID() }
        var results: [BenchRunResult] = []
        for run in 1...runs {
            var result = BenchRunResult()
            log("run \(run)/\(runs): load average \(ProcFS.loadAverage())")
            result.redisBenchmarkSet = try await redisBenchmarkSet()
            log(String(format: "  redis-benchmark SET -P 1 (50 clients): %.0f requests/s", result.redisBenchmarkSet))
            for workload in workloads {
                switch workload {
                case .w1a, .w1b, .w1c:
                    let figure = try await enqueue(workload, count: scaled(20_000), redisPID: redisPID)
                    result.throughput[workload] = figure
                    log("  \(workload.rawValue): \(BenchSummary.grouped(figure.tasksPerSecond)) tasks/s\(figure.note)")
                case .w2a, .w2b:
                    let concurrency = workload == .w2a ? 10 : 50
                    let drain = try await drain(count: scaled(50_000), concurrency: concurrency, redisPID: redisPID)
                    result.throughput[workload] = drain.throughput
                    result.drainCPU[workload] = drain.cpu
                    if workload == .w2a {
                        result.peakRSSMiB = drain.peakRSS.map { Double($0) / 1_048_576 }
                        result.peakRSSVerified = drain.throughput.verified
                    }
                    let figures = String(
                        format:
                            "redis-server CPU %.0f %%, worker CPU %.0f %% = %.1f µs/task, peak RSS %.1f MiB (private %.1f MiB)",
                        (drain.cpu.redis ?? 0) * 100, (drain.cpu.worker ?? 0) * 100,
                        (drain.cpu.worker ?? 0) / max(drain.throughput.tasksPerSecond, 1) * 1e6,
                        Double(drain.peakRSS ?? 0) / 1_048_576, Double(drain.anonymousRSS ?? 0) / 1_048_576
                    )
                    log(
                        "  \(workload.rawValue): \(BenchSummary.grouped(drain.throughput.tasksPerSecond)) tasks/s "
                            + "(\(figures))\(drain.throughput.note)"
                    )
                case .w3:
                    let latency = try await latency(rate: 1_000, seconds: 10)
                    result.latency = latency
                    log(
                        String(
                            format: "  W3: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms", latency.p50,
                            latency.p90,
                            latency.p99, latency.max)
                    )
                case .w4:
                    if result.peakRSSMiB == nil {
                        let drain = try await drain(count: scaled(50_000), concurrency: 10, redisPID: redisPID)
                        result.peakRSSMiB = drain.peakRSS.map { Double($0) / 1_048_576 }
                        result.peakRSSVerified = drain.throughput.verified
                    }
                    log(String(format: "  W4: %.1f MiB", result.peakRSSMiB ?? 0))
                }
            }
            results.append(result)
        }
        return results
    }

    // MARK: - Redis

    private func withRedis<T: Sendable>(_ body: (RedisClient) async throws -> T) async throws -> T {
        let redis = try RedisClient(options: options, logger: CLILogging.logger("asynq.bench"))
        do {
            let result = try await body(redis)
            await redis.close()
            return result
        } catch {
            await redis.close()
            throw error
        }
    }

    private func flushAll(_ redis: RedisClient) async throws {
        try await redis.send(RedisCommand("FLUSHALL"))
    }

    private func discoverRedisPID() async throws -> Int32? {
        try await withRedis { redis in
            let info = try await redis.info("server")
            for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("process_id:") {
                if let pid = Int32(line.dropFirst("process_id:".count)), ProcFS.cpuTime(pid: pid) != nil { return pid }
            }
            return nil
        }
    }

    private func redisBenchmarkSet() async throws -> Double {
        guard case .standalone(.tcp(let host, let port)) = options.topology else {
            throw CLIError("redis-benchmark needs a standalone Redis reached over TCP")
        }
        return try await RedisBenchmarkRunner.setRequestsPerSecond(
            executable: redisBenchmark,
            host: host,
            port: port,
            password: options.password,
            username: options.username,
            threads: threads
        )
    }

    // MARK: - W1

    private func enqueue(_ workload: BenchWorkload, count: Int, redisPID: Int32?) async throws -> BenchThroughput {
        try await withRedis { redis in
            try await flushAll(redis)
            _ = try await redis.ping()
            let client = AsynqClient(redis: redis)
            let timestamp = BenchClock.unixNanoseconds()
            let tasks = (0..<count).map { id in
                AsynqTask(type: Self.taskType, payload: BenchPayload.make(id: id, timestamp: timestamp))
            }
            let clock = ContinuousClock()
            let start = clock.now
            let ownStart = ProcFS.ownCPUTime()
            let redisStart = redisPID.flatMap { ProcFS.cpuTime(pid: $0) }
            var errors = 0
            switch workload {
            case .w1a:
                for task in tasks {
                    do { try await client.enqueue(task) } catch { errors += 1 }
                }
            case .w1b:
                let producers = 8
                errors = await withTaskGroup(of: Int.self) { group in
                    for producer in 0..<producers {
                        group.addTask {
                            var errors = 0
                            for index in stride(from: producer, to: tasks.count, by: producers) {
                                do { try await client.enqueue(tasks[index]) } catch { errors += 1 }
                            }
                            return errors
                        }
                    }
                    return await group.reduce(0, +)
                }
            default:
                for first in stride(from: 0, to: tasks.count, by: 100) {
                    let batch = Array(tasks[first..<min(first + 100, tasks.count)])
                    do {
                        for result in try await client.enqueueBatch(batch) {
                            if case .failure = result { errors += 1 }
                        }
                    } catch {
                        errors += batch.count
                    }
                }
            }
            let elapsed = clock.now - start
            let ownCPU = ProcFS.ownCPUTime() - ownStart
            let redisCPU = redisPID.flatMap { ProcFS.cpuTime(pid: $0) }.flatMap { end in redisStart.map { end - $0 } }
            let rate = Double(count) / elapsed.seconds
            let check = try await verifyPending(redis, count: count)
            let verified = errors == 0 && check.isEmpty
            var note = String(
                format: " (client CPU %.0f %% = %.1f µs/task, redis-server CPU %.0f %%)",
                ownCPU.seconds / elapsed.seconds * 100, ownCPU.seconds / Double(count) * 1e6,
                (redisCPU?.seconds ?? 0) / elapsed.seconds * 100)
            if !verified { note += " NOT VERIFIED: \(errors) errors; \(check)" }
            return BenchThroughput(tasksPerSecond: rate, verified: verified, note: note)
        }
    }

    /// Checks that `pending` holds exactly `count` tasks whose payload IDs are 0..<count, each
    /// once. Returns what is wrong (empty when all is well).
    private func verifyPending(_ redis: RedisClient, count: Int) async throws -> String {
        let ids = try await redis.lrange(RedisKeys.pending(Self.queue), 0, -1)
        var problems: [String] = []
        if ids.count != count { problems.append("pending holds \(ids.count) tasks, expected \(count)") }
        if Set(ids).count != ids.count { problems.append("pending holds a task ID twice") }
        var seen = BenchIDSet(expected: count)
        var unreadable = 0
        for first in stride(from: 0, to: ids.count, by: 1_000) {
            let chunk = ids[first..<min(first + 1_000, ids.count)]
            let commands = chunk.map { RedisCommand("HGET", RedisKeys.taskKey(Self.queue, $0), "msg") }
            for result in try await redis.pipeline(commands) {
                guard let buffer = try result.get().byteBuffer,
                    let message = try? TaskMessage.decode(buffer.readableBytesView),
                    message.type == Self.taskType,
                    let parsed = BenchPayload.parse(message.payload)
                else {
                    unreadable += 1
                    continue
                }
                seen.insert(parsed.id)
            }
        }
        if unreadable > 0 { problems.append("\(unreadable) tasks without a benchmark message") }
        if !seen.isExact {
            problems.append("payload IDs: \(seen.seen) seen, \(seen.duplicates) duplicated, \(seen.missing) missing")
        }
        return problems.joined(separator: "; ")
    }

    // MARK: - W2

    struct DrainResult {
        var throughput: BenchThroughput
        var peakRSS: Int?
        var anonymousRSS: Int?
        var cpu: BenchDrainCPU
    }

    private func drain(count: Int, concurrency: Int, redisPID: Int32?) async throws -> DrainResult {
        try await withRedis { redis in
            try await flushAll(redis)
            let client = AsynqClient(redis: redis)
            let timestamp = BenchClock.unixNanoseconds()
            let failures = try await withThrowingTaskGroup(of: Int.self) { group in
                // Four batches in flight at a time.
                let lanes = 4
                for lane in 0..<lanes {
                    group.addTask {
                        var failures = 0
                        for first in stride(from: lane * 100, to: count, by: lanes * 100) {
                            let batch = (first..<min(first + 100, count)).map { id in
                                AsynqTask(type: Self.taskType, payload: BenchPayload.make(id: id, timestamp: timestamp))
                            }
                            for result in try await client.enqueueBatch(batch) {
                                if case .failure = result { failures += 1 }
                            }
                        }
                        return failures
                    }
                }
                return try await group.reduce(0, +)
            }
            guard failures == 0, try await redis.llen(RedisKeys.pending(Self.queue)) == count else {
                throw CLIError("could not prepare \(count) pending tasks (\(failures) enqueue failures)")
            }
            let arguments = workerCommand(["--concurrency", String(concurrency), "--expect", String(count)])
            let report = try await runWorker(arguments, redisPID: redisPID) { _ in }
            return try await drainResult(report, redis: redis, count: count)
        }
    }

    private func drainResult(_ report: WorkerReport, redis: RedisClient, count: Int) async throws -> DrainResult {
        var problems: [String] = []
        let fields = report.fields
        if fields["aborted"] != nil { problems.append("the worker did not see every task") }
        if fields["seen"] != String(count) { problems.append("handler saw \(fields["seen"] ?? "?") distinct IDs") }
        if let duplicates = fields["duplicates"], duplicates != "0" { problems.append("\(duplicates) IDs seen twice") }
        if let invalid = fields["invalid"], invalid != "0" { problems.append("\(invalid) unexpected payloads") }
        let state = try await redis.pipeline([
            RedisCommand("GET", RedisKeys.processedTotal(Self.queue)),
            RedisCommand("GET", RedisKeys.failedTotal(Self.queue)),
            RedisCommand("LLEN", RedisKeys.pending(Self.queue)),
            RedisCommand("LLEN", RedisKeys.active(Self.queue)),
            RedisCommand("ZCARD", RedisKeys.retry(Self.queue)),
            RedisCommand("ZCARD", RedisKeys.archived(Self.queue)),
            RedisCommand("ZCARD", RedisKeys.lease(Self.queue)),
        ])
        let values = try state.map { result -> Int in
            let token = try result.get()
            return token.int ?? token.string.flatMap { Int($0) } ?? 0
        }
        let names = ["processed total", "failed total", "pending", "active", "retry", "archived", "lease"]
        let expected = [count, 0, 0, 0, 0, 0, 0]
        for (name, (value, wanted)) in zip(names, zip(values, expected)) where value != wanted {
            problems.append("\(name) is \(value), expected \(wanted)")
        }
        let elapsed = Double(fields["elapsed_ns"].flatMap { Int64($0) } ?? 0) / 1e9
        let rate = elapsed > 0 ? Double(count) / elapsed : 0
        let cpu = BenchDrainCPU(
            redis: report.redisCPU.map { $0.seconds / report.wall.seconds },
            worker: report.workerCPU.map { $0.seconds / report.wall.seconds }
        )
        let note = problems.isEmpty ? "" : " NOT VERIFIED: " + problems.joined(separator: "; ")
        return DrainResult(
            throughput: BenchThroughput(tasksPerSecond: rate, verified: problems.isEmpty, note: note),
            peakRSS: report.peakRSS,
            anonymousRSS: report.anonymousRSS,
            cpu: cpu
        )
    }

    // MARK: - W3

    private func latency(rate: Int, seconds: Int) async throws -> BenchLatency {
        try await withRedis { redis in
            try await flushAll(redis)
            _ = try await redis.ping()
            let count = scaled(rate * seconds)
            let client = AsynqClient(redis: redis)
            let arguments = workerCommand([
                "--concurrency", "10", "--expect", String(count), "--latency",
            ])
            let interval = Duration.nanoseconds(1_000_000_000 / rate)
            let report = try await runWorker(arguments, redisPID: nil) { phase in
                guard phase == "ready" else { return }
                let clock = ContinuousClock()
                let start = clock.now + .milliseconds(10)
                for index in 0..<count {
                    try await Task.sleep(until: start + interval * index, clock: clock)
                    let payload = BenchPayload.make(id: index, timestamp: BenchClock.unixNanoseconds())
                    try await client.enqueue(AsynqTask(type: Self.taskType, payload: payload))
                }
            }
            let drained = try await drainResult(report, redis: redis, count: count)
            func ms(_ key: String) -> Double { Double(report.fields[key].flatMap { Int64($0) } ?? 0) / 1e6 }
            return BenchLatency(
                p50: ms("p50_ns"),
                p90: ms("p90_ns"),
                p99: ms("p99_ns"),
                max: ms("p100_ns"),
                verified: drained.throughput.verified
            )
        }
    }

    // MARK: - The worker process

    private func workerCommand(_ extra: [String]) -> [String] {
        var command = workerPrefix
        if let first = command.first, !first.contains("/"),
            let resolved = ProcessSpawner.findExecutable(first, path: ProcessInfo.processInfo.environment["PATH"])
        {
            command[0] = resolved
        }
        command += [ProcFS.currentExecutable(), "bench-worker", "--redis", uri]
        return command + extra
    }

    struct WorkerReport {
        var fields: [String: String] = [:]
        var peakRSS: Int?
        var anonymousRSS: Int?
        var redisCPU: Duration?
        var workerCPU: Duration?
        var wall: Duration = .zero
    }

    /// Runs a worker process until it reports `done`; `onPhase` is called for its `started`
    /// and `ready` lines (W3 produces from `ready` on).
    private func runWorker(
        _ arguments: [String],
        redisPID: Int32?,
        onPhase: @escaping @Sendable (String) async throws -> Void
    ) async throws -> WorkerReport {
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        return try await BenchChild.run(arguments, environment: environment, threads: threads, timeout: timeout) {
            child, lines in
            var report = WorkerReport()
            let clock = ContinuousClock()
            var started = clock.now
            var redisStart: Duration?
            var workerStart: Duration?
            try await withThrowingTaskGroup(of: Void.self) { group in
                for await line in lines {
                    if line == "started" {
                        started = clock.now
                        redisStart = redisPID.flatMap { ProcFS.cpuTime(pid: $0) }
                        workerStart = ProcFS.cpuTime(pid: child.pid)
                        try await onPhase(line)
                    } else if line == "ready" {
                        // Produce concurrently with reading the worker's lines; a failed producer
                        // kills the worker, which would otherwise wait for its tasks forever.
                        let pid = child.pid
                        group.addTask {
                            do {
                                try await onPhase(line)
                            } catch {
                                _ = kill(pid, SIGKILL)
                                throw error
                            }
                        }
                    } else if line.hasPrefix("done") {
                        report.wall = clock.now - started
                        report.peakRSS = ProcFS.peakRSS(pid: child.pid)
                        report.anonymousRSS = ProcFS.anonymousRSS(pid: child.pid)
                        if let redisPID, let redisStart, let now = ProcFS.cpuTime(pid: redisPID) {
                            report.redisCPU = now - redisStart
                        }
                        if let workerStart, let now = ProcFS.cpuTime(pid: child.pid) {
                            report.workerCPU = now - workerStart
                        }
                        for field in line.split(separator: " ").dropFirst() {
                            let parts = field.split(separator: "=", maxSplits: 1)
                            if parts.count == 2 { report.fields[String(parts[0])] = String(parts[1]) }
                        }
                        break
                    } else {
                        log("  worker: \(line)")
                    }
                }
                try await group.waitForAll()
            }
            if report.fields.isEmpty { report.fields["aborted"] = "1" }
            return report
        }
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Medians over runs, the human table and the JSON.
struct BenchSummary {
    let runs: [BenchRunResult]
    let workloads: [BenchWorkload]

    var redisBenchmark: Double { BenchStatistics.median(runs.map(\.redisBenchmarkSet)) }

    func throughput(_ workload: BenchWorkload) -> (median: Double, min: Double, max: Double, verified: Bool)? {
        let values = runs.compactMap { $0.throughput[workload] }
        guard !values.isEmpty else { return nil }
        let rates = values.map(\.tasksPerSecond)
        return (
            BenchStatistics.median(rates), rates.min() ?? 0, rates.max() ?? 0, values.allSatisfy(\.verified)
        )
    }

    var latency: BenchLatency? {
        let values = runs.compactMap(\.latency)
        guard !values.isEmpty else { return nil }
        return BenchLatency(
            p50: BenchStatistics.median(values.map(\.p50)),
            p90: BenchStatistics.median(values.map(\.p90)),
            p99: BenchStatistics.median(values.map(\.p99)),
            max: BenchStatistics.median(values.map(\.max)),
            verified: values.allSatisfy(\.verified)
        )
    }

    var peakRSS: Double? {
        let values = runs.compactMap(\.peakRSSMiB)
        return values.isEmpty ? nil : BenchStatistics.median(values)
    }

    var allVerified: Bool {
        for workload in workloads {
            switch workload {
            case .w1a, .w1b, .w1c, .w2a, .w2b:
                if throughput(workload)?.verified != true { return false }
            case .w3:
                if latency?.verified != true { return false }
            case .w4:
                if peakRSS == nil || !runs.allSatisfy(\.peakRSSVerified) { return false }
            }
        }
        return true
    }

    private static func number(_ value: Double, decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }

    func json() -> String {
        var members: [String] = []
        for workload in workloads {
            var fields: [(String, String)] = []
            switch workload {
            case .w1a, .w1b, .w1c, .w2a, .w2b:
                guard let figure = throughput(workload) else { continue }
                let ratio = redisBenchmark > 0 ? figure.median / redisBenchmark : 0
                fields = [
                    ("tasks_per_second", Self.number(figure.median, decimals: 0)),
                    ("ratio", Self.number(ratio, decimals: 3)),
                    ("verified", figure.verified ? "true" : "false"),
                ]
            case .w3:
                guard let latency else { continue }
                fields = [
                    ("p50_ms", Self.number(latency.p50, decimals: 3)),
                    ("p90_ms", Self.number(latency.p90, decimals: 3)),
                    ("p99_ms", Self.number(latency.p99, decimals: 3)),
                    ("max_ms", Self.number(latency.max, decimals: 3)),
                    ("verified", latency.verified ? "true" : "false"),
                ]
            case .w4:
                guard let peakRSS else { continue }
                fields = [("peak_rss_mib", Self.number(peakRSS, decimals: 1))]
            }
            let body = fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
            members.append("\"\(workload.rawValue)\": {\(body)}")
        }
        return "{\"redis_benchmark_set_rps\": \(Self.number(redisBenchmark, decimals: 0)), "
            + "\"workloads\": {\(members.joined(separator: ", "))}}"
    }

    func table(loadAverage: String, executor: String) -> String {
        let count = runs.count
        var text = "\n"
        text +=
            "asynq bench: \(count == 1 ? "1 run" : "median of \(count) runs [min–max]"), load average now \(loadAverage)\n"
        text += "Swift concurrency runs on \(executor)\n"
        text +=
            "redis-benchmark -q -n 200000 -t set -P 1 (50 clients), same server: "
            + "\(Self.grouped(redisBenchmark)) requests/s\n\n"
        var rows: [[String]] = []
        for workload in workloads {
            switch workload {
            case .w1a, .w1b, .w1c, .w2a, .w2b:
                guard let figure = throughput(workload) else { continue }
                var result = "\(Self.grouped(figure.median)) tasks/s"
                if count > 1 { result += " [\(Self.grouped(figure.min))–\(Self.grouped(figure.max))]" }
                let ratio = redisBenchmark > 0 ? figure.median / redisBenchmark : 0
                let versusGo = ratio / workload.goRatio
                rows.append([
                    workload.rawValue, result, Self.number(ratio, decimals: 3),
                    "\(Self.grouped(workload.goFigure))/s = \(Self.number(workload.goRatio, decimals: 3))",
                    Self.number(versusGo, decimals: 2) + "×", workload.target,
                    versusGo >= workload.floorMultiple ? "yes" : "NO", figure.verified ? "yes" : "NO",
                ])
            case .w3:
                guard let latency else { continue }
                rows.append([
                    "W3",
                    "p50 \(Self.number(latency.p50, decimals: 2)) / p90 \(Self.number(latency.p90, decimals: 2)) / "
                        + "p99 \(Self.number(latency.p99, decimals: 2)) / max \(Self.number(latency.max, decimals: 2)) ms",
                    "—", "p50 544 / p99 1,392 ms", "—", workload.target,
                    latency.p50 <= 1 && latency.p99 <= 2 ? "yes" : "NO", latency.verified ? "yes" : "NO",
                ])
            case .w4:
                guard let peakRSS else { continue }
                rows.append([
                    "W4", "\(Self.number(peakRSS, decimals: 1)) MiB peak RSS", "—", "17.6 MiB", "—", workload.target,
                    peakRSS <= 30 ? "yes" : "NO", runs.allSatisfy(\.peakRSSVerified) ? "yes" : "NO",
                ])
            }
        }
        text += Table.render(
            headers: ["WORKLOAD", "RESULT", "RATIO", "GO ASYNQ = RATIO", "VS GO", "FLOOR", "MET", "VERIFIED"],
            rows: rows)
        text +=
            "RATIO: result / redis-benchmark in this run. GO ASYNQ: WORKLOADS.md's figure and its ratio to "
            + "redis-benchmark in that run (105,597/s). VS GO: our ratio / Go's ratio.\n"
        for workload in [BenchWorkload.w2a, .w2b] where workloads.contains(workload) {
            let cpus = runs.compactMap { $0.drainCPU[workload] }
            let redis = cpus.compactMap(\.redis)
            let worker = cpus.compactMap(\.worker)
            guard !redis.isEmpty || !worker.isEmpty else { continue }
            text +=
                "\(workload.rawValue) CPU (time / wall): redis-server "
                + "\(Self.number(BenchStatistics.median(redis) * 100, decimals: 0)) %, worker process "
                + "\(Self.number(BenchStatistics.median(worker) * 100, decimals: 0)) %\n"
        }
        return text
    }

    /// `105,597`.
    static func grouped(_ value: Double) -> String {
        let rounded = Int(value.rounded())
        let digits = String(rounded.magnitude)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
            result.append(character)
        }
        return (rounded < 0 ? "-" : "") + result
    }
}
