import ArgumentParser
import Asynq
import Foundation

/// `asynq task …` — "Manage tasks".
struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Manage tasks",
        discussion: """
            Examples:
              $ asynq task list --queue=myqueue --state=scheduled
              $ asynq task inspect --queue=myqueue --id=7837f142-6337-4217-9276-8f27281b67d1
              $ asynq task delete --queue=myqueue --id=7837f142-6337-4217-9276-8f27281b67d1
              $ asynq task deleteall --queue=myqueue --state=archived
            """,
        subcommands: [
            TaskListCommand.self, TaskInspectCommand.self, TaskCancelCommand.self,
            TaskArchiveCommand.self,
            TaskDeleteCommand.self, TaskRunCommand.self, TaskEnqueueCommand.self,
            TaskArchiveAllCommand.self,
            TaskDeleteAllCommand.self, TaskRunAllCommand.self,
        ]
    )
}

struct TaskListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List tasks",
        discussion: """
            List tasks of the given state from the specified queue.

            The --queue and --state flags are required.

            Note: For aggregating tasks, additional --group flag is required.

            List operation paginates the result set. By default, the command fetches the first 30 tasks.
            Use --page and --size flags to specify the page number and size.

            Examples:
              $ asynq task list --queue=myqueue --state=pending
              $ asynq task list --queue=myqueue --state=aggregating --group=mygroup
              $ asynq task list --queue=myqueue --state=scheduled --page=2
            """,
        aliases: ["ls"]
    )

    @OptionGroup var globals: GlobalOptions

    @Option(name: [.customShort("q"), .customLong("queue")], help: "Queue to inspect (required)")
    var queue: String

    @Option(
        name: [.customShort("s"), .customLong("state")],
        help:
            "State of the tasks; one of { active | pending | aggregating | scheduled | retry | archived | completed }"
    )
    var state: String

    @Option(help: "Page number")
    var page = 1

    @Option(help: "Page size")
    var size = 30

    @Option(
        name: [.customShort("g"), .customLong("group")],
        help: "Group to inspect (required for listing aggregating tasks)"
    )
    var group: String?

    @Flag(help: "Print the tasks as JSON")
    var json = false

    func run() async throws {
        let console = Console.current
        guard let taskState = TaskState(name: state) else {
            throw CLIError("state=\(CLIFormat.quote(state)) is not supported")
        }
        if taskState == .aggregating && (group ?? "").isEmpty {
            throw CLIError("flag --group is required for listing aggregating tasks")
        }
        let tasks = try await globals.withInspector { inspector in
            try await inspector.listTasks(
                queue: queue,
                state: taskState,
                group: taskState == .aggregating ? group : nil,
                page: page,
                pageSize: size
            )
        }
        if json {
            try JSONOutput.print(tasks.map(TaskInfoJSON.init))
            return
        }
        guard !tasks.isEmpty else {
            if taskState == .aggregating {
                console.print("No aggregating tasks in group \(CLIFormat.quote(group ?? "")) ")
            } else {
                console.print("No \(taskState) tasks in \(CLIFormat.quote(queue)) queue")
            }
            return
        }
        console.write(Self.table(tasks, state: taskState, now: Date()))
    }

    /// The Go CLI's columns for each state.
    static func table(_ tasks: [TaskInfo], state: TaskState, now: Date) -> String {
        switch state {
        case .active, .pending:
            return Table.render(
                headers: ["ID", "Type", "Payload"],
                rows: tasks.map { [$0.id, $0.type, CLIFormat.bytes($0.payload)] }
            )
        case .scheduled:
            return Table.render(
                headers: ["ID", "Type", "Payload", "Process In"],
                rows: tasks.map {
                    [
                        $0.id, $0.type, CLIFormat.bytes($0.payload),
                        CLIFormat.processIn($0.nextProcessAt, now: now),
                    ]
                }
            )
        case .retry:
            return Table.render(
                headers: [
                    "ID", "Type", "Payload", "Next Retry", "Last Error", "Last Failed", "Retried",
                    "Max Retry",
                ],
                rows: tasks.map {
                    [
                        $0.id, $0.type, CLIFormat.bytes($0.payload),
                        CLIFormat.processIn($0.nextProcessAt, now: now),
                        $0.lastError, CLIFormat.pastTime($0.lastFailedAt), String($0.retried),
                        String($0.maxRetry),
                    ]
                }
            )
        case .archived:
            return Table.render(
                headers: ["ID", "Type", "Payload", "Last Failed", "Last Error"],
                rows: tasks.map {
                    [
                        $0.id, $0.type, CLIFormat.bytes($0.payload), CLIFormat.pastTime($0.lastFailedAt),
                        $0.lastError,
                    ]
                }
            )
        case .completed:
            return Table.render(
                headers: ["ID", "Type", "Payload", "CompletedAt", "Result"],
                rows: tasks.map {
                    [
                        $0.id, $0.type, CLIFormat.bytes($0.payload), CLIFormat.pastTime($0.completedAt),
                        CLIFormat.bytes($0.result),
                    ]
                }
            )
        case .aggregating:
            return Table.render(
                headers: ["ID", "Type", "Payload", "Group"],
                rows: tasks.map { [$0.id, $0.type, CLIFormat.bytes($0.payload), $0.group ?? ""] }
            )
        }
    }
}

/// `-q/--queue` and `-i/--id`, both required.
struct TaskLocator: ParsableArguments {
    @Option(
        name: [.customShort("q"), .customLong("queue")],
        help: "Queue to which the task belongs (required)")
    var queue: String

    @Option(name: [.customShort("i"), .customLong("id")], help: "ID of the task (required)")
    var id: String
}

struct TaskInspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Display detailed information on the specified task",
        discussion: """
            Examples:
              $ asynq task inspect --queue=myqueue --id=f1720682-f5a6-4db1-8953-4f48ae541d0f
            """
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var task: TaskLocator

    @Flag(help: "Print the task as JSON")
    var json = false

    func run() async throws {
        let console = Console.current
        let info: TaskInfo
        do {
            info = try await globals.withInspector {
                try await $0.taskInfo(queue: task.queue, id: task.id)
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("could not get task info: \(CLIFormat.describe(error))")
        }
        if json {
            try JSONOutput.print(TaskInfoJSON(info))
            return
        }
        console.printBold("Task Info")
        console.print("Queue:   \(info.queue)")
        console.print("ID:      \(info.id)")
        console.print("Type:    \(info.type)")
        console.print("State:   \(info.state)")
        console.print("Retried: \(info.retried)/\(info.maxRetry)")
        console.print()
        console.print(
            "Next process time: \(CLIFormat.nextProcessTime(info.nextProcessAt, now: Date()))")
        if !info.lastError.isEmpty {
            console.print()
            console.printBold("Last Failure")
            console.print("Failed at:     \(CLIFormat.pastTime(info.lastFailedAt))")
            console.print("Error message: \(info.lastError)")
        }
    }
}

struct TaskCancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel one or more active tasks",
        discussion: """
            Examples:
              $ asynq task cancel f1720682-f5a6-4db1-8953-4f48ae541d0f
            """
    )

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "Task IDs")
    var ids: [String] = []

    func validate() throws {
        if ids.isEmpty { throw ValidationError("requires at least 1 task ID") }
    }

    func run() async throws {
        let console = Console.current
        try await globals.withInspector { inspector in
            var failed = false
            for id in ids {
                do {
                    try await inspector.cancelProcessing(taskID: id)
                    console.print("Sent cancelation signal for task \(id)")
                } catch {
                    console.printError(
                        "error: could not send cancelation signal: \(CLIFormat.describe(error))")
                    failed = true
                }
            }
            if failed { throw CLIExit(1) }
        }
    }
}

/// A command acting on one task: runs `action`, prints `success`, or fails with `failure: <err>`.
private func actOnTask(
    _ globals: GlobalOptions,
    _ task: TaskLocator,
    success: String,
    failure: String,
    _ action: (AsynqInspector, String, String) async throws -> Void
) async throws {
    do {
        try await globals.withInspector { try await action($0, task.queue, task.id) }
    } catch let error as CLIError {
        throw error
    } catch {
        throw CLIError("\(failure): \(CLIFormat.describe(error))")
    }
    Console.current.print(success)
}

struct TaskArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Archive a task with the given id",
        discussion: """
            Examples:
              $ asynq task archive --queue=myqueue --id=f1720682-f5a6-4db1-8953-4f48ae541d0f
            """
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var task: TaskLocator

    func run() async throws {
        try await actOnTask(globals, task, success: "task archived", failure: "could not archive task") {
            try await $0.archiveTask(queue: $1, id: $2)
        }
    }
}

struct TaskDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a task with the given id",
        discussion: """
            Examples:
              $ asynq task delete --queue=myqueue --id=f1720682-f5a6-4db1-8953-4f48ae541d0f
            """,
        aliases: ["remove", "rm"]
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var task: TaskLocator

    func run() async throws {
        try await actOnTask(globals, task, success: "task deleted", failure: "could not delete task") {
            try await $0.deleteTask(queue: $1, id: $2)
        }
    }
}

struct TaskRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a task with the given id",
        discussion: """
            Examples:
              $ asynq task run --queue=myqueue --id=f1720682-f5a6-4db1-8953-4f48ae541d0f
            """
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var task: TaskLocator

    func run() async throws {
        try await actOnTask(
            globals, task, success: "task is now pending", failure: "could not run task"
        ) {
            try await $0.runTask(queue: $1, id: $2)
        }
    }
}

/// `-q/--queue`, `-s/--state` (both required) and `-g/--group` of the bulk commands.
struct BulkSelection: ParsableArguments {
    @Option(
        name: [.customShort("q"), .customLong("queue")],
        help: "Queue to which the tasks belong (required)")
    var queue: String

    @Option(name: [.customShort("s"), .customLong("state")], help: "State of the tasks (required)")
    var state: String

    @Option(
        name: [.customShort("g"), .customLong("group")],
        help: "Group to which the tasks belong (required for aggregating tasks)"
    )
    var group: String?

    /// The state, if it is one of `allowed`, and the group when it is aggregating.
    func resolve(allowed: [TaskState]) throws -> (TaskState, String?) {
        guard let parsed = TaskState(name: state), allowed.contains(parsed) else {
            throw CLIError("unsupported state \(CLIFormat.quote(state))")
        }
        guard parsed == .aggregating else { return (parsed, nil) }
        guard let group, !group.isEmpty else {
            throw CLIError("flag --group is required for aggregating tasks")
        }
        return (parsed, group)
    }
}

struct TaskArchiveAllCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archiveall",
        abstract: "Archive all tasks in the given state",
        discussion: """
            The state is one of { pending | aggregating | scheduled | retry }.

            Examples:
              $ asynq task archiveall --queue=myqueue --state=retry
              $ asynq task archiveall --queue=myqueue --state=aggregating --group=mygroup
            """
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var selection: BulkSelection

    func run() async throws {
        let (state, group) = try selection.resolve(allowed: [
            .pending, .scheduled, .retry, .aggregating,
        ])
        let count = try await globals.withInspector {
            try await $0.archiveAll(queue: selection.queue, state: state, group: group)
        }
        Console.current.print("\(count) tasks archived")
    }
}

struct TaskDeleteAllCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deleteall",
        abstract: "Delete all tasks in the given state",
        discussion: """
            The state is one of { pending | aggregating | scheduled | retry | archived | completed }.

            Examples:
              $ asynq task deleteall --queue=myqueue --state=archived
              $ asynq task deleteall --queue=myqueue --state=aggregating --group=mygroup
            """
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var selection: BulkSelection

    func run() async throws {
        let (state, group) = try selection.resolve(allowed: [
            .pending, .scheduled, .retry, .archived, .completed, .aggregating,
        ])
        let count = try await globals.withInspector {
            try await $0.deleteAll(queue: selection.queue, state: state, group: group)
        }
        Console.current.print("\(count) tasks deleted")
    }
}

struct TaskRunAllCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runall",
        abstract: "Run all tasks in the given state",
        discussion: """
            The state is one of { scheduled | retry | archived | aggregating }.

            Examples:
              $ asynq task runall --queue=myqueue --state=retry
              $ asynq task runall --queue=myqueue --state=aggregating --group=mygroup
            """
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var selection: BulkSelection

    func run() async throws {
        let (state, group) = try selection.resolve(allowed: [
            .scheduled, .retry, .archived, .aggregating,
        ])
        let count = try await globals.withInspector {
            try await $0.runAll(queue: selection.queue, state: state, group: group)
        }
        Console.current.print("\(count) tasks are now pending")
    }
}
