import ArgumentParser
import Asynq
import Foundation

/// `asynq client …`: what a producer does (enqueue, purge).
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Enqueue tasks and purge queues",
        subcommands: [ClientEnqueueCommand.self, ClientPurgeCommand.self]
    )
}

/// `asynq client enqueue --type T --payload STRING|@FILE|- [options]`.
struct ClientEnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue a task",
        discussion: """
            The payload is the text given, the contents of a file (@path), or standard input (-).
            Durations use Go syntax (30s, 5m, 1h30m); times are RFC 3339 (2030-01-02T15:04:05Z).

            Examples:
              $ asynq client enqueue --type email:deliver --payload '{"to":"a@example.com"}'
              $ asynq client enqueue --type image:resize --payload @photo.json --queue critical --process-in 10s
              $ echo hello | asynq client enqueue --type echo --payload - --header trace=abc --json
            """
    )

    @OptionGroup var globals: GlobalOptions

    @Option(name: .customLong("type"), help: "Task type name (required)")
    var type: String

    @Option(
        name: .customLong("payload"),
        help: "Payload: text, @FILE, or - for standard input (default: none)")
    var payload: String?

    @Option(help: "Queue to enqueue the task to (default \"default\")")
    var queue: String?

    @Option(
        name: .customLong("max-retry"), help: "Most retries before the task is archived (default 25)")
    var maxRetry: Int?

    @Option(help: "Time limit per attempt, e.g. 30s (default 30m when no deadline is set)")
    var timeout: String?

    @Option(help: "Deadline, RFC 3339")
    var deadline: String?

    @Option(name: .customLong("process-in"), help: "Process after this delay, e.g. 10s")
    var processIn: String?

    @Option(name: .customLong("process-at"), help: "Process at this time, RFC 3339")
    var processAt: String?

    @Option(help: "Keep the task unique (queue, type, payload) for this long, e.g. 1h")
    var unique: String?

    @Option(name: .customLong("task-id"), help: "Task ID (default a random UUID)")
    var taskID: String?

    @Option(help: "Keep the task as completed for this long after it succeeds, e.g. 24h")
    var retention: String?

    @Option(help: "Aggregation group")
    var group: String?

    @Option(name: .customLong("header"), help: "A header key=value (repeatable)")
    var headers: [String] = []

    @Flag(help: "Print the task as JSON")
    var json = false

    func validate() throws {
        if processIn != nil && processAt != nil {
            throw ValidationError("--process-in and --process-at cannot be used together")
        }
    }

    func run() async throws {
        let console = Console.current
        var options: [TaskOption] = []
        if let queue { options.append(.queue(queue)) }
        if let maxRetry { options.append(.maxRetry(maxRetry)) }
        if let timeout { options.append(.timeout(try CLIFormat.duration(timeout, flag: "--timeout"))) }
        if let deadline { options.append(.deadline(try CLIFormat.time(deadline, flag: "--deadline"))) }
        if let processIn {
            options.append(.processIn(try CLIFormat.duration(processIn, flag: "--process-in")))
        }
        if let processAt {
            options.append(.processAt(try CLIFormat.time(processAt, flag: "--process-at")))
        }
        if let unique { options.append(.unique(ttl: try CLIFormat.duration(unique, flag: "--unique"))) }
        if let taskID { options.append(.taskID(taskID)) }
        if let retention {
            options.append(.retention(try CLIFormat.duration(retention, flag: "--retention")))
        }
        if let group { options.append(.group(group)) }
        for header in headers {
            guard let equals = header.firstIndex(of: "="), equals != header.startIndex else {
                throw CLIError("invalid --header \(CLIFormat.quote(header)) (expected key=value)")
            }
            options.append(
                .header(String(header[..<equals]), String(header[header.index(after: equals)...])))
        }
        let body = try payload.map { try Self.readPayload($0, console: console) }
        let task = AsynqTask(type: type, payload: body)
        let info: TaskInfo
        do {
            info = try await globals.withClient { try await $0.enqueue(task, options: options) }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("could not enqueue task: \(CLIFormat.describe(error))")
        }
        if json {
            try JSONOutput.print(TaskInfoJSON(info))
        } else {
            TaskInfoPrinter.printEnqueued(info, console: console)
        }
    }

    /// `text`, `@file` or `-` (standard input).
    static func readPayload(_ argument: String, console: Console) throws -> Data {
        if argument == "-" {
            do {
                return try console.readStandardInput()
            } catch {
                throw CLIError("cannot read the payload from standard input: \(CLIFormat.describe(error))")
            }
        }
        if argument.hasPrefix("@") {
            let path = String(argument.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIError("cannot read payload file \(CLIFormat.quote(path))")
            }
            return data
        }
        return Data(argument.utf8)
    }
}

/// How the `client` commands print an enqueued task.
enum TaskInfoPrinter {
    static func printEnqueued(_ info: TaskInfo, console: Console, now: Date = Date()) {
        console.print("Enqueued task \(info.id) to queue \(info.queue)")
        var lines: [(String, String)] = [
            ("Type", info.type),
            ("State", info.state.description),
            ("Payload", info.payload == nil ? "" : CLIFormat.bytes(info.payload)),
            ("Max retry", String(info.maxRetry)),
            ("Timeout", info.timeout == .zero ? "none" : GoFormat.duration(info.timeout)),
            ("Deadline", info.deadline.map(GoFormat.unixDate) ?? "none"),
        ]
        if let group = info.group { lines.append(("Group", group)) }
        if info.retention != .zero { lines.append(("Retention", GoFormat.duration(info.retention))) }
        for (key, value) in info.headers.sorted(by: { $0.key < $1.key }) {
            lines.append(("Header", "\(key)=\(value)"))
        }
        lines.append(("Next process time", CLIFormat.nextProcessTime(info.nextProcessAt, now: now)))
        let width = lines.map(\.0.count).max() ?? 0
        for (key, value) in lines {
            console.print("  \(key):" + String(repeating: " ", count: width - key.count + 1) + value)
        }
    }
}

/// `asynq client purge --queue Q [--state S] [--force]`: deletes the tasks of a queue.
struct ClientPurgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Delete the tasks of a queue",
        discussion: """
            Deletes every task of the queue in the given state (all = every state but active; active
            tasks cannot be purged, cancel them instead). Asks for confirmation on a terminal; without
            a terminal, --force is required.

            Examples:
              $ asynq client purge --queue low --state archived
              $ asynq client purge --queue low --state all --force
            """
    )

    @OptionGroup var globals: GlobalOptions

    @Option(help: "Queue to purge (required)")
    var queue: String

    @Option(help: "pending, scheduled, retry, archived, completed, aggregating, or all")
    var state = "all"

    @Flag(name: [.customShort("f"), .customLong("force")], help: "Do not ask for confirmation")
    var force = false

    @Flag(help: "Print the counts as JSON")
    var json = false

    func run() async throws {
        let console = Console.current
        let states: Set<TaskState>
        if state == "all" {
            states = AsynqClient.purgeableStates
        } else if let one = TaskState(name: state), one != .active {
            states = [one]
        } else {
            throw CLIError(
                "unsupported state \(CLIFormat.quote(state)) "
                    + "(expected pending, scheduled, retry, archived, completed, aggregating or all)"
            )
        }
        let what = state == "all" ? "all tasks (except active ones)" : "all \(state) tasks"
        if !force {
            guard console.isInputTerminal else {
                throw CLIError(
                    "refusing to purge queue \(CLIFormat.quote(queue)) without confirmation: "
                        + "standard input is not a terminal; pass --force"
                )
            }
            console.write("Delete \(what) of queue \(CLIFormat.quote(queue))? [y/N] ")
            let answer = console.readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            guard answer == "y" || answer == "yes" else {
                console.print("Aborted; nothing was deleted")
                throw CLIExit(1)
            }
        }
        let deleted: [TaskState: Int]
        do {
            deleted = try await globals.withClient { try await $0.purge(queue: queue, states: states) }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(
                "could not purge queue \(CLIFormat.quote(queue)): \(CLIFormat.describe(error))")
        }
        if json {
            var counts: [String: Int] = [:]
            for (state, count) in deleted { counts[state.description] = count }
            try JSONOutput.print(counts)
            return
        }
        let total = deleted.values.reduce(0, +)
        let details = TaskState.allCases.compactMap { state in deleted[state].map { "\(state): \($0)" }
        }
        console.print(
            "\(total) tasks deleted from queue \(CLIFormat.quote(queue)) (\(details.joined(separator: ", ")))"
        )
    }
}
