import ArgumentParser
import Asynq
import Foundation
import NIOPosix

/// The options of a worker: shell handlers and the server's settings.
struct WorkerOptions: ParsableArguments {
    @Option(
        name: .customLong("handle"),
        help: ArgumentHelp(
            "A route 'pattern=command' (repeatable)",
            discussion: """
                Task types are matched as TaskRouter patterns: the exact type, else the longest
                prefix; a trailing * is ignored, and * alone matches every type.
                """
        )
    )
    var handlers: [String] = []

    @Option(help: "Most tasks processed at the same time (default: the number of CPUs)")
    var concurrency: Int?

    @Option(help: "Queues and priorities, e.g. critical=6,default=3,low=1")
    var queues = "default=1"

    @Flag(help: "Strict priority: always take from the highest-priority non-empty queue first")
    var strict = false

    @Option(
        name: .customLong("shutdown-timeout"),
        help: "How long a graceful shutdown waits for running tasks")
    var shutdownTimeout = "8s"

    @Flag(help: "Do not print a line when a task starts and ends")
    var quiet = false

    func parsedQueues() throws -> [String: Int] {
        var result: [String: Int] = [:]
        for item in queues.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            let name = parts.first ?? ""
            let priority = parts.count == 2 ? Int(parts[1]) : 1
            guard !name.isEmpty, let priority, priority > 0 else {
                throw CLIError(
                    "invalid --queues entry \(CLIFormat.quote(String(item))) (expected name=priority, priority ≥ 1)"
                )
            }
            result[name] = priority
        }
        guard !result.isEmpty else { throw CLIError("--queues names no queue") }
        return result
    }

    /// The routes, in the order given; an empty pattern is the catch-all `*`.
    func parsedRoutes() throws -> [(pattern: String, command: String)] {
        guard !handlers.isEmpty else {
            throw CLIError(
                "give at least one --handle 'pattern=command' (e.g. --handle 'email:=./send-email.sh')")
        }
        var seen = Set<String>()
        return try handlers.map { route in
            guard let equals = route.firstIndex(of: "=") else {
                throw CLIError("invalid --handle \(CLIFormat.quote(route)) (expected pattern=command)")
            }
            var pattern = route[..<equals].trimmingCharacters(in: .whitespaces)
            let command = String(route[route.index(after: equals)...])
            if pattern.hasSuffix("*") { pattern.removeLast() }
            guard !command.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw CLIError("invalid --handle \(CLIFormat.quote(route)): the command is empty")
            }
            guard seen.insert(pattern).inserted else {
                throw CLIError(
                    "--handle: more than one command for pattern \(CLIFormat.quote(pattern.isEmpty ? "*" : pattern))"
                )
            }
            return (pattern, command)
        }
    }
}

/// `asynq server run --handle 'pattern=command' …`: a worker whose handlers are shell commands.
struct ServerRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a worker whose task handlers are shell commands",
        discussion: ShellTaskHandler.contract
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var worker: WorkerOptions

    func run() async throws {
        try await WorkerRunner(globals: globals, options: worker).run()
    }
}

/// `asynq worker …`: the same as `asynq server run …`.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker whose task handlers are shell commands (same as 'server run')",
        discussion: ShellTaskHandler.contract
    )

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var worker: WorkerOptions

    func run() async throws {
        try await WorkerRunner(globals: globals, options: worker).run()
    }
}

struct WorkerRunner {
    var globals: GlobalOptions
    var options: WorkerOptions

    func run() async throws {
        let console = Console.current
        let routes = try options.parsedRoutes()
        let queues = try options.parsedQueues()
        let shutdownTimeout = try CLIFormat.duration(
            options.shutdownTimeout, flag: "--shutdown-timeout")
        let concurrency = max(1, options.concurrency ?? ProcessInfo.processInfo.activeProcessorCount)
        let redis = try globals.connectionOptions()
        let logger = CLILogging.logger("asynq.server")

        let threads = NIOThreadPool(numberOfThreads: concurrency)
        threads.start()
        do {
            let router = TaskRouter()
            var catchAll: ShellTaskHandler?
            for (pattern, command) in routes {
                let handler = ShellTaskHandler(command: command, threads: threads, console: console)
                if pattern.isEmpty { catchAll = handler } else { router.handle(pattern, handler) }
            }
            let dispatcher = ShellDispatcher(
                router: router, catchAll: catchAll, console: console, quiet: options.quiet)
            var configuration = AsynqServer.Configuration(
                concurrency: concurrency,
                queues: queues,
                strictPriority: options.strict,
                logger: logger
            )
            configuration.shutdownTimeout = shutdownTimeout
            let server = try AsynqServer(redis: redis, configuration: configuration, handler: dispatcher)
            console.print(
                "asynq worker \(server.serverID) (pid \(getpid())): concurrency \(concurrency), queues "
                    + ServerListCommand.queues(queues) + (options.strict ? " (strict priority)" : "")
            )
            for (pattern, command) in routes {
                console.print("  \(pattern.isEmpty ? "*" : pattern) → \(command)")
            }
            try await ServiceRunner.run([server], console: console, logger: logger)
            console.print("asynq worker stopped")
        } catch {
            try? await threads.shutdownGracefully()
            throw error
        }
        try await threads.shutdownGracefully()
    }
}

/// Sends a task to the shell handler of its route (or the `*` route), printing a line when it
/// starts and when it ends.
struct ShellDispatcher: TaskHandler {
    let router: TaskRouter
    let catchAll: ShellTaskHandler?
    let console: Console
    let quiet: Bool

    func processTask(_ task: AsynqTask, context: TaskContext) async throws {
        let (routed, pattern) = router.handler(for: task)
        let handler: any TaskHandler = pattern.isEmpty ? (catchAll ?? routed) : routed
        let started = ContinuousClock.now
        let name =
            "\(task.type) \(context.taskID) (queue \(context.queue), attempt \(context.retryCount + 1)/\(context.maxRetry + 1))"
        if !quiet { console.print("\(EventClock.now()) started   \(name)") }
        do {
            try await handler.processTask(task, context: context)
            if !quiet {
                console.print(
                    "\(EventClock.now()) succeeded \(name) in \(EventClock.elapsed(since: started))")
            }
        } catch {
            if !quiet {
                console.print(
                    "\(EventClock.now()) failed    \(name) in \(EventClock.elapsed(since: started)): "
                        + CLIFormat.describe(error)
                )
            }
            throw error
        }
    }
}

/// Times in the worker's event lines.
enum EventClock {
    /// `15:04:05.123` (UTC).
    static func now(_ date: Date = Date()) -> String {
        let text = CLIFormat.rfc3339Nano(date)
        guard let t = text.firstIndex(of: "T") else { return text }
        let time = text[text.index(after: t)...].dropLast()
        let parts = time.split(separator: ".", maxSplits: 1)
        let fraction = parts.count == 2 ? String(parts[1].prefix(3)) : ""
        return String(parts.first ?? "") + "."
            + fraction.padding(toLength: 3, withPad: "0", startingAt: 0)
    }

    static func elapsed(since start: ContinuousClock.Instant) -> String {
        let elapsed = ContinuousClock.now - start
        let millis =
            elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        return millis < 1000 ? "\(millis)ms" : String(format: "%.1fs", Double(millis) / 1000)
    }
}

/// A task handler that runs a shell command (see ``contract``).
struct ShellTaskHandler: TaskHandler {
    /// The exit status that archives the task at once (no retry).
    static let skipRetryExitStatus: Int32 = 3

    static let contract = """
        Each --handle 'pattern=command' routes the task types matching pattern to a shell command,
        run with /bin/sh -c in a process group of its own:

          * standard input: the task's payload;
          * environment: ASYNQ_TASK_ID, ASYNQ_TASK_TYPE, ASYNQ_QUEUE, ASYNQ_RETRY_COUNT,
            ASYNQ_MAX_RETRY and ASYNQ_DEADLINE (RFC 3339), added to the worker's own;
          * standard output: printed by the worker, line by line;
          * exit status 0: success;
          * exit status 3: failure without retry (the task is archived at once);
          * any other status: failure, retried later; the error message is the end of standard
            error (at most 4 KiB), or the exit status when standard error is empty.

        When the task's timeout or deadline passes, when it is cancelled ('asynq task cancel'), or
        when a shutdown gives up waiting for it, the process group gets SIGTERM, then SIGKILL 2 s
        later. Processes a command leaves running in its group are killed when it exits.

        SIGINT or SIGTERM shuts the worker down gracefully: it stops taking tasks, waits up to
        --shutdown-timeout for running ones, then puts unfinished tasks back in their queues.

        Examples:
          $ asynq server run --handle 'email:=./send-email.sh' --handle 'report=./report.sh'
          $ asynq worker --handle '*=cat' --queues critical=6,default=3,low=1 --concurrency 4
        """

    let command: String
    let threads: NIOThreadPool
    let console: Console

    func processTask(_ task: AsynqTask, context: TaskContext) async throws {
        var environment = console.environment
        environment["ASYNQ_TASK_ID"] = context.taskID
        environment["ASYNQ_TASK_TYPE"] = task.type
        environment["ASYNQ_QUEUE"] = context.queue
        environment["ASYNQ_RETRY_COUNT"] = String(context.retryCount)
        environment["ASYNQ_MAX_RETRY"] = String(context.maxRetry)
        environment["ASYNQ_DEADLINE"] = CLIFormat.rfc3339Nano(context.deadline)
        let console = self.console
        let process = ShellProcess(
            command: command,
            input: task.payload ?? Data(),
            environment: environment,
            onOutputLine: { console.print($0) }
        )
        let outcome = try await process.run(on: threads)
        if outcome.terminated {
            try Task.checkCancellation()
            throw AsynqError(.cancelled, "command terminated")
        }
        let detail = outcome.standardError
        switch outcome.status {
        case .exited(0):
            return
        case .exited(Self.skipRetryExitStatus):
            throw AsynqError.skipRetry(detail.isEmpty ? "command exited with status 3" : detail)
        case .exited(let status):
            throw AsynqError(.internal, detail.isEmpty ? "command exited with status \(status)" : detail)
        case .signaled(let signal):
            let reason = "command killed by signal \(signal)"
            throw AsynqError(.internal, detail.isEmpty ? reason : "\(reason): \(detail)")
        }
    }
}
