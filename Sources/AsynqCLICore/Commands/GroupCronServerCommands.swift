import ArgumentParser
import Asynq
import Foundation

// MARK: - group

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Manage groups",
        discussion: """
            Examples:
              $ asynq group list --queue=myqueue
            """,
        subcommands: [GroupListCommand.self]
    )
}

struct GroupListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List groups", aliases: ["ls"])

    @OptionGroup var globals: GlobalOptions

    @Option(name: [.customShort("q"), .customLong("queue")], help: "Queue to inspect (required)")
    var queue: String

    @Flag(help: "Print the groups (with their sizes) as JSON")
    var json = false

    func run() async throws {
        let console = Console.current
        let groups: [GroupInfo]
        do {
            groups = try await globals.withInspector { try await $0.groups(queue: queue) }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("could not fetch groups: \(CLIFormat.describe(error))")
        }
        let sorted = groups.sorted { $0.group < $1.group }
        if json {
            struct Group: Encodable {
                var group: String
                var size: Int
            }
            try JSONOutput.print(sorted.map { Group(group: $0.group, size: $0.size) })
            return
        }
        if sorted.isEmpty {
            console.print("No groups found in queue \(CLIFormat.quote(queue))")
            return
        }
        for group in sorted { console.print(group.group) }
    }
}

// MARK: - cron

struct CronCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron",
        abstract: "Manage cron",
        discussion: """
            Examples:
              $ asynq cron ls
              $ asynq cron history 7837f142-6337-4217-9276-8f27281b67d1
            """,
        subcommands: [CronListCommand.self, CronHistoryCommand.self]
    )
}

struct CronListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List cron entries",
        aliases: ["ls"]
    )

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Print the entries as JSON")
    var json = false

    func run() async throws {
        let console = Console.current
        let entries = try await globals.withInspector { try await $0.schedulerEntries() }
            .sorted { $0.spec < $1.spec }
        if json {
            struct Entry: Encodable {
                var id: String
                var spec: String
                var type: String
                var payload: Nullable<String>
                var payloadBase64: Nullable<String>
                var options: [String]
                var next: Nullable<String>
                var prev: Nullable<String>
            }
            try JSONOutput.print(
                entries.map { entry in
                    let (payload, base64) = TaskInfoJSON.bytes(entry.task.payload)
                    return Entry(
                        id: entry.id,
                        spec: entry.spec,
                        type: entry.task.type,
                        payload: payload,
                        payloadBase64: base64,
                        options: entry.options.map(\.description),
                        next: Nullable(entry.next.map(CLIFormat.rfc3339Nano)),
                        prev: Nullable(entry.prev.map(CLIFormat.rfc3339Nano))
                    )
                }
            )
            return
        }
        if entries.isEmpty {
            console.print("No scheduler entries")
            return
        }
        let now = Date()
        console.printTable(
            ["EntryID", "Spec", "Type", "Payload", "Options", "Next", "Prev"],
            entries.map { entry in
                [
                    entry.id, entry.spec, entry.task.type, CLIFormat.bytes(entry.task.payload),
                    "[" + entry.options.map(\.description).joined(separator: " ") + "]",
                    Self.next(entry.next, now: now), Self.previous(entry.prev, now: now),
                ]
            }
        )
    }

    /// `In 1m0s`, or `Now` once due (an entry that never fires again reads as due, as Go's zero
    /// time does).
    static func next(_ date: Date?, now: Date) -> String {
        guard let date else { return "Now" }
        let seconds = date.timeIntervalSince(now).rounded(.toNearestOrAwayFromZero)
        if seconds < 0 { return "Now" }
        return "In \(CLIFormat.roundedDuration(seconds: seconds))"
    }

    /// `1m0s ago`, or `N/A` when it never ran.
    static func previous(_ date: Date?, now: Date) -> String {
        guard let date else { return "N/A" }
        return "\(CLIFormat.roundedDuration(seconds: now.timeIntervalSince(date))) ago"
    }
}

struct CronHistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show history of each cron tasks"
    )

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "Entry IDs")
    var entryIDs: [String] = []

    @Option(help: "Page number")
    var page = 1

    @Option(help: "Page size")
    var size = 30

    @Flag(help: "Print the events as JSON")
    var json = false

    func validate() throws {
        if entryIDs.isEmpty { throw ValidationError("requires at least 1 entry ID") }
    }

    func run() async throws {
        let console = Console.current
        let (page, size) = (self.page, self.size)
        let results: [Result<[SchedulerEnqueueEvent], any Error>] = try await globals.withInspector {
            inspector in
            var results: [Result<[SchedulerEnqueueEvent], any Error>] = []
            for id in entryIDs {
                do {
                    results.append(
                        .success(
                            try await inspector.schedulerEnqueueEvents(entryID: id, page: page, pageSize: size))
                    )
                } catch {
                    results.append(.failure(error))
                }
            }
            return results
        }
        if json {
            struct Event: Encodable {
                var entryID: String
                var taskID: String
                var enqueuedAt: String
            }
            var all: [Event] = []
            for (id, result) in zip(entryIDs, results) {
                switch result {
                case .success(let events):
                    all += events.map {
                        Event(entryID: id, taskID: $0.taskID, enqueuedAt: CLIFormat.rfc3339Nano($0.enqueuedAt))
                    }
                case .failure(let error):
                    console.printError("error: \(CLIFormat.describe(error))")
                }
            }
            try JSONOutput.print(all)
            try CLIExit.failIfAny(results)
            return
        }
        for (index, (id, result)) in zip(entryIDs, results).enumerated() {
            if index > 0 { console.print("\n\(reportSeparator)") }
            console.print()
            console.print("Entry: \(id)\n")
            switch result {
            case .failure(let error):
                console.printError("error: \(CLIFormat.describe(error))")
            case .success(let events) where events.isEmpty:
                console.print("No scheduler enqueue events found for entry: \(id)")
            case .success(let events):
                console.printTable(
                    ["TaskID", "EnqueuedAt"],
                    events.map { [$0.taskID, CLIFormat.goDefaultTime($0.enqueuedAt)] }
                )
            }
        }
        try CLIExit.failIfAny(results)
    }
}

// MARK: - server

/// `asynq server ls` lists servers (as in Go); `asynq server run` runs a worker (ours).
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Manage servers",
        discussion: """
            Examples:
              $ asynq server list
              $ asynq server run --handle 'email:=./deliver.sh' --queues critical=6,default=3,low=1
            """,
        subcommands: [ServerListCommand.self, ServerRunCommand.self]
    )
}

struct ServerListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List servers",
        discussion: """
            Server list (asynq server ls) shows all running worker servers
            pulling tasks from the given redis instance.

            The command shows the following for each server:
            * Host and PID of the process in which the server is running
            * Number of active workers out of worker pool
            * Queue configuration
            * State of the worker server ("active" | "stopped")
            * Time the server was started

            A "active" server is pulling tasks from queues and processing them.
            A "stopped" server is no longer pulling new tasks from queues
            """,
        aliases: ["ls"]
    )

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Print the servers as JSON")
    var json = false

    func run() async throws {
        let console = Console.current
        let servers = try await globals.withInspector { try await $0.servers() }
            .sorted { ($0.host, $0.pid) < ($1.host, $1.pid) }
        if json {
            struct Worker: Encodable {
                var taskID: String
                var taskType: String
                var queue: String
                var started: String
                var deadline: Nullable<String>
            }
            struct Server: Encodable {
                var id: String
                var host: String
                var pid: Int
                var concurrency: Int
                var queues: [String: Int]
                var strictPriority: Bool
                var started: String
                var status: String
                var activeWorkers: [Worker]
            }
            try JSONOutput.print(
                servers.map { server in
                    Server(
                        id: server.id,
                        host: server.host,
                        pid: server.pid,
                        concurrency: server.concurrency,
                        queues: server.queues,
                        strictPriority: server.strictPriority,
                        started: CLIFormat.rfc3339Nano(server.started),
                        status: server.status,
                        activeWorkers: server.activeWorkers.map {
                            Worker(
                                taskID: $0.taskID,
                                taskType: $0.taskType,
                                queue: $0.queue,
                                started: CLIFormat.rfc3339Nano($0.started),
                                deadline: Nullable($0.deadline.map(CLIFormat.rfc3339Nano))
                            )
                        }
                    )
                }
            )
            return
        }
        if servers.isEmpty {
            console.print("No running servers")
            return
        }
        let now = Date()
        console.printTable(
            ["Host", "PID", "State", "Active Workers", "Queues", "Started"],
            servers.map { server in
                [
                    server.host, String(server.pid), server.status,
                    "\(server.activeWorkers.count)/\(server.concurrency)", Self.queues(server.queues),
                    "\(CLIFormat.roundedDuration(seconds: now.timeIntervalSince(server.started))) ago",
                ]
            }
        )
    }

    /// `name:priority` pairs, highest priority first, then by name.
    static func queues(_ queues: [String: Int]) -> String {
        queues.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key):\($0.value)" }
            .joined(separator: " ")
    }
}
