import ArgumentParser
import Asynq
import AsynqRedis
import Foundation

/// `asynq stats [--json]`: task counts by state and queue, today's counters, Redis info.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "View current state",
        discussion: """
            Stats shows the overview of tasks and queues at that instant.

            The command shows the following:
              * Number of tasks in each state
              * Number of tasks in each queue
              * Aggregate data for the current day
              * Basic information about the running redis instance
            """
    )

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Output stats in JSON format.")
    var json = false

    func run() async throws {
        let console = Console.current
        let cluster = globals.cluster
        let (stats, info) = try await globals.withInspectorAndRedis { inspector, redis in
            var stats: [QueueInfo] = []
            for queue in try await inspector.queues().sorted() {
                stats.append(try await inspector.queueInfo(queue))
            }
            let text = cluster ? try await redis.clusterInfo() : try await redis.info()
            return (stats, Self.parseInfo(text))
        }
        let aggregate = Aggregate(stats)
        if json {
            console.print(Self.json(aggregate: aggregate, queues: stats, info: info))
            return
        }
        console.printBold("Task Count by State")
        let counts = [
            aggregate.active, aggregate.pending, aggregate.aggregating, aggregate.scheduled,
            aggregate.retry,
            aggregate.archived, aggregate.completed,
        ]
        let width = max(9, counts.map { String($0).count }.max() ?? 0)
        console.write(
            Table.render(
                headers: [
                    "active", "pending", "aggregating", "scheduled", "retry", "archived", "completed",
                ],
                rows: [counts.map(String.init)],
                separators: Array(repeating: String(repeating: "-", count: width), count: 7)
            )
        )
        console.print()

        console.printBold("Task Count by Queue")
        let titles = stats.map { $0.paused ? "\($0.queue) (paused)" : $0.queue }
        let titleWidth = titles.map { $0.unicodeScalars.count }.max() ?? 0
        console.write(
            Table.render(
                headers: titles,
                rows: [stats.map { String($0.size) }],
                separators: Array(repeating: String(repeating: "-", count: titleWidth), count: titles.count)
            )
        )
        console.print()

        console.printBold("Daily Stats \(CLIFormat.day(aggregate.timestamp)) UTC")
        console.printTable(
            ["processed", "failed", "error rate"],
            [
                [
                    String(aggregate.processed), String(aggregate.failed),
                    CLIFormat.errorRate(processed: aggregate.processed, failed: aggregate.failed),
                ]
            ]
        )
        console.print()

        if cluster {
            console.printBold("Redis Cluster Info")
            console.printTable(
                ["State", "Known Nodes", "Cluster Size"],
                [
                    [
                        (info["cluster_state"] ?? "").uppercased(), info["cluster_known_nodes"] ?? "",
                        info["cluster_size"] ?? "",
                    ]
                ]
            )
        } else {
            console.printBold("Redis Info")
            console.printTable(
                ["version", "uptime", "connections", "memory usage", "peak memory usage"],
                [
                    [
                        info["redis_version"] ?? "", "\(info["uptime_in_days"] ?? "") days",
                        info["connected_clients"] ?? "", "\(info["used_memory_human"] ?? "")B",
                        "\(info["used_memory_peak_human"] ?? "")B",
                    ]
                ]
            )
        }
        console.print()
    }

    struct Aggregate {
        var active = 0
        var pending = 0
        var aggregating = 0
        var scheduled = 0
        var retry = 0
        var archived = 0
        var completed = 0
        var processed = 0
        var failed = 0
        /// The last queue's snapshot time (as Go), or now without queues.
        var timestamp = Date()

        init(_ stats: [QueueInfo]) {
            for s in stats {
                active += s.active
                pending += s.pending
                aggregating += s.aggregating
                scheduled += s.scheduled
                retry += s.retry
                archived += s.archived
                completed += s.completed
                processed += s.processed
                failed += s.failed
                timestamp = s.timestamp
            }
        }
    }

    /// The `key:value` lines of `INFO` / `CLUSTER INFO`.
    static func parseInfo(_ text: String) -> [String: String] {
        var info: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            info[String(line[..<colon])] = line[line.index(after: colon)...]
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return info
    }

    /// Go's `json.Marshal` of its `FullStats` (field order kept, map keys sorted).
    static func json(aggregate: Aggregate, queues: [QueueInfo], info: [String: String]) -> String {
        var agg = JSONObjectWriter()
        agg.add("active", aggregate.active)
        agg.add("pending", aggregate.pending)
        agg.add("aggregating", aggregate.aggregating)
        agg.add("scheduled", aggregate.scheduled)
        agg.add("retry", aggregate.retry)
        agg.add("archived", aggregate.archived)
        agg.add("completed", aggregate.completed)
        agg.add("processed", aggregate.processed)
        agg.add("failed", aggregate.failed)
        agg.add("timestamp", string: CLIFormat.rfc3339Nano(aggregate.timestamp))
        var redis = JSONObjectWriter()
        for key in info.keys.sorted() { redis.add(key, string: info[key] ?? "") }
        var object = JSONObjectWriter()
        object.add("aggregate", raw: agg.text)
        object.add(
            "queues",
            raw: queues.isEmpty ? "null" : "[" + queues.map(queueJSON).joined(separator: ",") + "]")
        object.add("redis", raw: redis.text)
        return object.text
    }

    /// One queue as Go's `rdb.Stats` marshals (Go field names; latency in nanoseconds).
    static func queueJSON(_ s: QueueInfo) -> String {
        var q = JSONObjectWriter()
        q.add("Queue", string: s.queue)
        q.add("MemoryUsage", Int(s.memoryUsage))
        q.add("Paused", raw: s.paused ? "true" : "false")
        q.add("Size", s.size)
        q.add("Groups", s.groups)
        q.add("Pending", s.pending)
        q.add("Active", s.active)
        q.add("Scheduled", s.scheduled)
        q.add("Retry", s.retry)
        q.add("Archived", s.archived)
        q.add("Completed", s.completed)
        q.add("Aggregating", s.aggregating)
        q.add("Processed", s.processed)
        q.add("Failed", s.failed)
        q.add("ProcessedTotal", s.processedTotal)
        q.add("FailedTotal", s.failedTotal)
        let (seconds, attoseconds) = s.latency.components
        q.add("Latency", raw: String(seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000))
        q.add("Timestamp", string: CLIFormat.rfc3339Nano(s.timestamp))
        return q.text
    }
}
