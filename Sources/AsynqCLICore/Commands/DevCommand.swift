import ArgumentParser
import Asynq
import AsynqRedis
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle

/// `asynq dev`: a demo on a throwaway redis-server — a worker with example handlers, a mix of
/// tasks, and a line for everything that happens.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run a demo worker and client on a throwaway redis-server",
        discussion: """
            Starts redis-server (a free port, a temporary directory, no persistence) unless --redis
            is given, runs a worker with two example handlers (email:deliver, image:resize), enqueues
            a mix of tasks (immediate, scheduled, unique, one that fails, is retried after 1 s and
            is archived after its last retry) and prints one line per event. Stops on Ctrl-C
            (SIGINT), SIGTERM or after --duration, and removes the redis-server it started.

            Examples:
              $ asynq dev
              $ asynq dev --duration 10s
              $ asynq dev --redis redis://127.0.0.1:6379/3
            """
    )

    @Option(help: "Use this Redis (host:port or redis:// URI) instead of starting redis-server")
    var redis: String?

    @Option(help: "Stop after this long, e.g. 10s (default: run until Ctrl-C)")
    var duration: String?

    @Option(help: "Worker concurrency")
    var concurrency = 4

    func run() async throws {
        let console = Console.current
        let duration = try self.duration.map { try CLIFormat.duration($0, flag: "--duration") }
        let threads = NIOThreadPool(numberOfThreads: 2)
        threads.start()
        defer { threads.shutdownGracefully { _ in } }

        var throwaway: ThrowawayRedis?
        let options: RedisConnectionOptions
        if let redis {
            let globals = try GlobalOptions.parse(["--uri", redis])
            options = try globals.connectionOptions()
        } else {
            guard
                let executable = ProcessSpawner.findExecutable(
                    "redis-server", path: console.environment["PATH"])
            else {
                throw CLIError(
                    "redis-server not found on PATH: install it (apt-get install -y redis-server; scripts/demo does "
                        + "this) or pass --redis URL"
                )
            }
            let server = try await ThrowawayRedis.start(executable: executable, threads: threads)
            console.print(
                "redis-server started on 127.0.0.1:\(server.port) (pid \(server.pid), directory \(server.directory))"
            )
            throwaway = server
            options = .standalone(host: "127.0.0.1", port: server.port)
        }
        let session = DevSession(
            redis: options,
            console: console,
            duration: duration,
            concurrency: max(1, concurrency)
        )
        guard let throwaway else {
            try await session.run()
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await throwaway.drainOutput() }
            do {
                try await session.run()
            } catch {
                await throwaway.stop()
                throw error
            }
            await throwaway.stop()
            try await group.waitForAll()
        }
        console.print("redis-server (pid \(throwaway.pid)) stopped and \(throwaway.directory) removed")
    }
}

/// One demo run against a Redis.
struct DevSession {
    let redis: RedisConnectionOptions
    let console: Console
    let duration: Duration?
    let concurrency: Int

    struct Email: Codable {
        var to: String
        var subject: String
    }

    struct Image: Codable {
        var source: String
        var width: Int
    }

    struct DeliveryError: Error, CustomStringConvertible {
        var description: String
    }

    func run() async throws {
        let console = self.console
        let logger = CLILogging.logger(
            "asynq.dev",
            console: console,
            level: CLILogging.level(from: console.environment) ?? .error
        )
        let events = DevEvents(console: console)
        let retryDelay = Duration.seconds(1)

        let router = TaskRouter()
        router.handle("email:deliver") { task, context in
            let email = try JSONDecoder().decode(Email.self, from: task.payload ?? Data())
            events.started(task, context)
            try await Task.sleep(for: .milliseconds(Int.random(in: 80...200)))
            if email.to.hasSuffix(".invalid") {
                throw DeliveryError(description: "550 mailbox unavailable: \(email.to)")
            }
            events.succeeded(
                task, context, detail: "sent \(GoFormat.quote(email.subject)) to \(email.to)")
        }
        router.handle("image:resize") { task, context in
            let image = try JSONDecoder().decode(Image.self, from: task.payload ?? Data())
            events.started(task, context)
            try await Task.sleep(for: .milliseconds(Int.random(in: 150...300)))
            events.succeeded(task, context, detail: "resized \(image.source) to \(image.width) px wide")
        }

        var configuration = AsynqServer.Configuration(
            concurrency: concurrency,
            queues: ["critical": 6, "default": 3, "low": 1],
            logger: logger
        )
        configuration.retryDelay = { _, _, _ in retryDelay }
        configuration.delayedTaskCheckInterval = .seconds(1)
        configuration.shutdownTimeout = .seconds(3)
        configuration.errorHandler = { task, context, error in
            events.failed(task, context, error: error, retryDelay: retryDelay)
        }
        let server = try AsynqServer(redis: redis, configuration: configuration, handler: router)
        let client = try AsynqClient(redis: redis, logger: logger)
        let driver = DevDriver(client: client, events: events, duration: duration)
        console.print(
            "worker: concurrency \(concurrency), queues critical:6 default:3 low:1 — "
                + (duration.map { "stopping after \(GoFormat.duration($0))" } ?? "press Ctrl-C to stop")
        )
        do {
            try await ServiceRunner.run([server, driver], console: console, logger: logger)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
        console.print("\(EventClock.now()) stopped")
    }
}

/// Enqueues the demo's tasks, then waits for the duration (or the shutdown).
struct DevDriver: Service {
    let client: AsynqClient
    let events: DevEvents
    let duration: Duration?

    func run() async throws {
        let encoder = JSONEncoder()
        // Sorted keys: the same payload gives the same bytes, which uniqueness depends on.
        encoder.outputFormatting = [.sortedKeys]
        func email(_ to: String, _ subject: String) throws -> AsynqTask {
            AsynqTask(
                type: "email:deliver",
                payload: try encoder.encode(DevSession.Email(to: to, subject: subject)))
        }
        func image(_ source: String, _ width: Int) throws -> AsynqTask {
            AsynqTask(
                type: "image:resize",
                payload: try encoder.encode(DevSession.Image(source: source, width: width)))
        }
        let newsletter = try email("news@example.com", "Newsletter")
        let plan: [(AsynqTask, [TaskOption], String)] = [
            (try email("alice@example.com", "Welcome!"), [], "immediate"),
            (try image("cat.jpg", 640), [.queue("critical")], "immediate, critical queue"),
            (try email("bob@example.com", "Your invoice"), [.queue("low")], "immediate, low queue"),
            (try image("dog.jpg", 320), [.processIn(.seconds(3))], "scheduled in 3s"),
            (newsletter, [.unique(ttl: .seconds(60)), .processIn(.seconds(2))], "unique, in 2s"),
            (newsletter, [.unique(ttl: .seconds(60)), .processIn(.seconds(2))], "unique again"),
            (try email("nobody@example.invalid", "Bounce"), [.maxRetry(2)], "fails, 2 retries"),
        ]
        for (task, options, note) in plan {
            do {
                let info = try await client.enqueue(task, options: options)
                events.enqueued(info, note: note)
            } catch  where error.isAsynqError(.duplicateTask) {
                events.rejected(task, reason: "duplicate of a unique task (task already exists)")
            }
        }
        if let duration {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
        } else {
            try? await gracefulShutdown()
        }
    }
}

/// One line per event: `15:04:05.123  started    email:deliver 1a2b3c4d  …`.
struct DevEvents: Sendable {
    let console: Console

    private func line(_ event: String, _ type: String, _ id: String, _ detail: String) {
        let padded = event.padding(toLength: 10, withPad: " ", startingAt: 0)
        let name = type.padding(toLength: 14, withPad: " ", startingAt: 0)
        console.print("\(EventClock.now())  \(padded) \(name) \(id.prefix(8))  \(detail)")
    }

    func enqueued(_ info: TaskInfo, note: String) {
        var detail = "queue \(info.queue), \(note)"
        if info.state == .scheduled, let at = info.nextProcessAt {
            detail += " (at \(EventClock.now(at)))"
        }
        line("enqueued", info.type, info.id, detail)
    }

    func rejected(_ task: AsynqTask, reason: String) {
        line("rejected", task.type, "--------", reason)
    }

    func started(_ task: AsynqTask, _ context: TaskContext) {
        line(
            "started", task.type, context.taskID,
            "attempt \(context.retryCount + 1) of \(context.maxRetry + 1)")
    }

    func succeeded(_ task: AsynqTask, _ context: TaskContext, detail: String) {
        line("succeeded", task.type, context.taskID, detail)
    }

    func failed(_ task: AsynqTask, _ context: TaskContext, error: any Error, retryDelay: Duration) {
        let message = CLIFormat.describe(error)
        if context.retryCount >= context.maxRetry || error.isAsynqError(.skipRetry) {
            line("failed", task.type, context.taskID, "\(message) → archived (no retries left)")
        } else {
            let at = Date().addingTimeInterval(Double(retryDelay.components.seconds))
            line("failed", task.type, context.taskID, "\(message) → retry at \(EventClock.now(at))")
        }
    }
}
