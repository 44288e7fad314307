import ArgumentParser
import Asynq
import Foundation

/// `asynq queue …` — "Manage queues".
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Manage queues",
        discussion: """
            Examples:
              $ asynq queue ls
              $ asynq queue inspect myqueue
              $ asynq queue pause myqueue
            """,
        subcommands: [
            QueueListCommand.self, QueueInspectCommand.self, QueueHistoryCommand.self,
            QueuePauseCommand.self,
            QueueResumeCommand.self, QueueRemoveCommand.self,
        ]
    )
}

/// The line between the reports of several queues or entries.
let reportSeparator = String(repeating: "=", count: 49)

struct QueueListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List queues", aliases: ["ls"])

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Print the queues as JSON")
    var json = false

    private struct Row {
        var queue: String
        var keySlot = 0
        var nodes: [ClusterNode] = []
    }

    func run() async throws {
        let console = Console.current
        let cluster = globals.cluster
        let rows: [Row] = try await globals.withInspector { inspector in
            var rows: [Row] = []
            for queue in try await inspector.queues().sorted() {
                guard cluster else {
                    rows.append(Row(queue: queue))
                    continue
                }
                guard let slot = try? await inspector.clusterKeySlot(queue: queue) else {
                    console.printError("error: could not get cluster keyslot for \(CLIFormat.quote(queue))")
                    continue
                }
                guard let nodes = try? await inspector.clusterNodes(queue: queue) else {
                    console.printError("error: could not get cluster nodes for \(CLIFormat.quote(queue))")
                    continue
                }
                rows.append(Row(queue: queue, keySlot: slot, nodes: nodes))
            }
            return rows
        }
        if json {
            if cluster {
                struct Node: Encodable {
                    var id: String
                    var address: String
                }
                struct Item: Encodable {
                    var queue: String
                    var keySlot: Int
                    var nodes: [Node]
                }
                try JSONOutput.print(
                    rows.map { row in
                        Item(
                            queue: row.queue,
                            keySlot: row.keySlot,
                            nodes: row.nodes.map { Node(id: $0.id, address: $0.address) }
                        )
                    }
                )
            } else {
                try JSONOutput.print(rows.map(\.queue))
            }
            return
        }
        if cluster {
            console.printTable(
                ["Queue", "Cluster KeySlot", "Cluster Nodes"],
                rows.map { row in
                    let nodes = row.nodes.map { "{\($0.id) \($0.address)}" }.joined(separator: " ")
                    return [row.queue, String(row.keySlot), "[\(nodes)]"]
                }
            )
        } else {
            for row in rows { console.print(row.queue) }
        }
    }
}

struct QueueInspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Display detailed information on one or more queues",
        discussion: """
            Examples:
              $ asynq queue inspect myqueue
              $ asynq queue inspect queue1 queue2 queue3
            """
    )

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "Queue names")
    var queues: [String] = []

    @Flag(help: "Print the queues as JSON (Go's field names, as in 'stats --json')")
    var json = false

    func validate() throws {
        if queues.isEmpty { throw ValidationError("requires at least 1 queue name") }
    }

    func run() async throws {
        let console = Console.current
        let results: [Result<QueueInfo, any Error>] = try await globals.withInspector { inspector in
            var results: [Result<QueueInfo, any Error>] = []
            for queue in queues {
                do {
                    results.append(.success(try await inspector.queueInfo(queue)))
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
        if json {
            var items: [String] = []
            for result in results {
                switch result {
                case .success(let info): items.append(StatsCommand.queueJSON(info))
                case .failure(let error): console.printError("error: \(CLIFormat.describe(error))")
                }
            }
            console.print("[" + items.joined(separator: ",") + "]")
            try CLIExit.failIfAny(results)
            return
        }
        for (index, result) in results.enumerated() {
            if index > 0 { console.print("\n\(reportSeparator)\n") }
            switch result {
            case .success(let info): Self.printQueueInfo(info, console: console)
            case .failure(let error): console.printError("error: \(CLIFormat.describe(error))")
            }
        }
        try CLIExit.failIfAny(results)
    }

    static func printQueueInfo(_ info: QueueInfo, console: Console) {
        console.printBold("Queue Info")
        console.print("Name:   \(info.queue)")
        console.print("Size:   \(info.size)")
        console.print("Groups: \(info.groups)")
        console.print("Paused: \(info.paused)")
        console.print()
        console.printBold("Task Count by State")
        console.printTable(
            ["active", "pending", "aggregating", "scheduled", "retry", "archived", "completed"],
            [
                [
                    info.active, info.pending, info.aggregating, info.scheduled, info.retry, info.archived,
                    info.completed,
                ]
                .map(String.init)
            ]
        )
        console.print()
        console.printBold("Daily Stats \(CLIFormat.day(info.timestamp)) UTC")
        console.printTable(
            ["processed", "failed", "error rate"],
            [
                [
                    String(info.processed), String(info.failed),
                    CLIFormat.errorRate(processed: info.processed, failed: info.failed),
                ]
            ]
        )
    }
}

struct QueueHistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Display historical aggregate data from one or more queues",
        discussion: """
            Examples:
              $ asynq queue history myqueue
              $ asynq queue history queue1 queue2 queue3
              $ asynq queue history myqueue --days=90
            """
    )

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "Queue names")
    var queues: [String] = []

    @Option(name: [.customShort("x"), .customLong("days")], help: "Show data from last x days")
    var days = 10

    @Flag(help: "Print the history as JSON")
    var json = false

    func validate() throws {
        if queues.isEmpty { throw ValidationError("requires at least 1 queue name") }
    }

    func run() async throws {
        let console = Console.current
        let days = self.days
        let results: [Result<[DailyStats], any Error>] = try await globals.withInspector { inspector in
            var results: [Result<[DailyStats], any Error>] = []
            for queue in queues {
                do {
                    results.append(.success(try await inspector.history(queue: queue, days: days)))
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
        if json {
            struct Day: Encodable {
                var queue: String
                var date: String
                var processed: Int
                var failed: Int
            }
            var all: [Day] = []
            for result in results {
                switch result {
                case .success(let stats):
                    all += stats.map {
                        Day(
                            queue: $0.queue, date: CLIFormat.day($0.date), processed: $0.processed,
                            failed: $0.failed)
                    }
                case .failure(let error):
                    console.printError("error: \(CLIFormat.describe(error))")
                }
            }
            try JSONOutput.print(all)
            try CLIExit.failIfAny(results)
            return
        }
        for (index, (queue, result)) in zip(queues, results).enumerated() {
            if index > 0 { console.print("\n\(reportSeparator)\n") }
            console.print("Queue: \(queue)\n")
            switch result {
            case .success(let stats):
                console.printTable(
                    ["date (UTC)", "processed", "failed", "error rate"],
                    stats.map {
                        [
                            CLIFormat.day($0.date), String($0.processed), String($0.failed),
                            CLIFormat.errorRate(processed: $0.processed, failed: $0.failed),
                        ]
                    }
                )
            case .failure(let error):
                console.printError("error: \(CLIFormat.describe(error))")
            }
        }
        try CLIExit.failIfAny(results)
    }
}

/// Runs `body` for every queue, printing each success or error; after all were tried, ends
/// with status 1 if any failed, as the Go CLI's multi-argument commands do.
func forEachQueue(
    _ queues: [String], console: Console, _ body: (String) async throws -> String
)
    async throws
{
    var failed = false
    for queue in queues {
        do {
            console.print(try await body(queue))
        } catch {
            console.printError(CLIFormat.describe(error))
            failed = true
        }
    }
    if failed { throw CLIExit(1) }
}

struct QueuePauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause one or more queues",
        discussion: """
            Examples:
              $ asynq queue pause myqueue
              $ asynq queue pause queue1 queue2 queue3
            """
    )

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "Queue names")
    var queues: [String] = []

    func validate() throws {
        if queues.isEmpty { throw ValidationError("requires at least 1 queue name") }
    }

    func run() async throws {
        let console = Console.current
        try await globals.withInspector { inspector in
            try await forEachQueue(queues, console: console) { queue in
                try await inspector.pause(queue: queue)
                return "Successfully paused queue \(CLIFormat.quote(queue))"
            }
        }
    }
}

struct QueueResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume (unpause) one or more queues",
        discussion: """
            Examples:
              $ asynq queue resume myqueue
              $ asynq queue resume queue1 queue2 queue3
            """,
        aliases: ["unpause"]
    )

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "Queue names")
    var queues: [String] = []

    func validate() throws {
        if queues.isEmpty { throw ValidationError("requires at least 1 queue name") }
    }

    func run() async throws {
        let console = Console.current
        try await globals.withInspector { inspector in
            try await forEachQueue(queues, console: console) { queue in
                try await inspector.unpause(queue: queue)
                return "Successfully unpaused queue \(CLIFormat.quote(queue))"
            }
        }
    }
}

struct QueueRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove one or more queues",
        discussion: """
            Examples:
              $ asynq queue rm myqueue
              $ asynq queue rm queue1 queue2 queue3
              $ asynq queue rm myqueue --force
            """,
        aliases: ["rm", "delete"]
    )

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "Queue names")
    var queues: [String] = []

    @Flag(
        name: [.customShort("f"), .customLong("force")], help: "Remove the queue regardless of its size"
    )
    var force = false

    func validate() throws {
        if queues.isEmpty { throw ValidationError("requires at least 1 queue name") }
    }

    func run() async throws {
        let console = Console.current
        let force = self.force
        try await globals.withInspector { inspector in
            try await forEachQueue(queues, console: console) { queue in
                do {
                    try await inspector.deleteQueue(queue, force: force)
                } catch  where error.isAsynqError(.queueNotEmpty) {
                    throw CLIError(
                        "error: \(CLIFormat.describe(error))\n"
                            + "If you are sure you want to delete it, run 'asynq queue rm --force \(queue)'"
                    )
                } catch {
                    throw CLIError("error: \(CLIFormat.describe(error))")
                }
                return "Successfully removed queue \(CLIFormat.quote(queue))"
            }
        }
    }
}
