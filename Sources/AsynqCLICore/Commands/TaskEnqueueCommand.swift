import ArgumentParser
import Asynq
import Foundation

/// `asynq task enqueue -t <type> -l <payload> [options]` with the Go CLI's flags: an option is
/// passed to the client only when its flag is given, so the library defaults apply otherwise.
struct TaskEnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue a task",
        discussion: """
            Examples:
              $ asynq task enqueue -t email:deliver -l '{"to":"a@example.com"}'
              $ asynq task enqueue -t report -l monthly --queue low --process_in 1h --retry 3
            """
    )

    @OptionGroup var globals: GlobalOptions

    @Option(
        name: [.customShort("t"), .customLong("type_name")],
        help: "Type name to enqueue the task as (required)")
    var typeName: String

    @Option(name: [.customShort("l"), .customLong("payload")], help: "Payload to enqueue (required)")
    var payload: String

    @Option(help: "Maximum retries")
    var retry: Int?

    @Option(help: "Queue to enqueue the task to")
    var queue: String?

    @Option(help: "ID to enqueue the task as")
    var id: String?

    @Option(help: "Timeout for the task (how long it can run); a Go duration such as 100s or 5h")
    var timeout: String?

    @Option(help: "Deadline for the task; RFC 3339")
    var deadline: String?

    @Option(help: "Unique period for the task; a Go duration")
    var unique: String?

    @Option(name: .customLong("process_at"), help: "Process at time for the task; RFC 3339")
    var processAt: String?

    @Option(name: .customLong("process_in"), help: "Process in window for the task; a Go duration")
    var processIn: String?

    @Option(help: "Retention period for the task; a Go duration")
    var retention: String?

    @Option(help: "Group for the task")
    var group: String?

    @Flag(help: "Print the enqueued task as JSON")
    var json = false

    func run() async throws {
        var options: [TaskOption] = []
        if let retry { options.append(.maxRetry(retry)) }
        if let queue { options.append(.queue(queue)) }
        if let id { options.append(.taskID(id)) }
        if let timeout { options.append(.timeout(try CLIFormat.duration(timeout, flag: "--timeout"))) }
        if let deadline { options.append(.deadline(try CLIFormat.time(deadline, flag: "--deadline"))) }
        if let unique { options.append(.unique(ttl: try CLIFormat.duration(unique, flag: "--unique"))) }
        if let processAt {
            options.append(.processAt(try CLIFormat.time(processAt, flag: "--process_at")))
        }
        if let processIn {
            options.append(.processIn(try CLIFormat.duration(processIn, flag: "--process_in")))
        }
        if let retention {
            options.append(.retention(try CLIFormat.duration(retention, flag: "--retention")))
        }
        if let group { options.append(.group(group)) }
        let task = AsynqTask(type: typeName, payload: Data(payload.utf8))
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
            Console.current.print("Enqueued task \(info.id) to queue \(info.queue)")
        }
    }
}
