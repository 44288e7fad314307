import Asynq
import AsynqRedis
import Foundation
import Logging
import Synchronization

/// How a Go server was configured in a scenario (everything the Redis state depends on). The
/// fixtures' common settings are the defaults: concurrency 1, queue `default`, task check
/// interval 100 ms, delayed-task check interval 1 s, shutdown timeout 3 s.
struct ServerConfiguration: Sendable {
    var concurrency = 1
    var queues: [String: Int] = ["default": 1]
    var strictPriority = false
    var delayedTaskCheckInterval: Duration = .seconds(1)
    /// The retry delay function's constant result.
    var retryDelay: Duration = .seconds(3600)
    var groupGracePeriod: Duration = .zero
    var groupMaxSize = 0
    /// The group aggregator: the group's tasks → the aggregated task.
    var aggregator: (@Sendable (_ group: String, _ tasks: [AsynqTask]) -> AsynqTask)?
}

/// What a handler does at the end.
enum TaskOutcome: Sendable {
    case success
    /// Fails with this error text; retried while retries remain, else archived.
    case failure(String)
    /// Fails with `AsynqError.skipRetry(reason)` (Go: an error wrapping `SkipRetry`).
    case skipRetry(reason: String)
}

/// A task handed to the scenario's handler and not finished yet.
struct InFlightTask: Sendable {
    var id: String
    var queue: String
}

/// The server steps of a scenario, performed by a real `AsynqServer` that runs on the scenario
/// clock (every time it stores is the clock's, which each step sets to Go's instant).
///
/// Three test hooks of the server make the steps land at Go's instants: the processor
/// dequeues only when a step asks for a task (`beforeDequeue`), a step can have a heartbeat
/// written at once (`heartbeatNow()`), and the handler does what the step says (write a result,
/// succeed, fail) when the step says it. The forwarder, the aggregator, the recoverer and the
/// heartbeat at start run on their own, as in Go; steps that wait for them poll Redis.
final class ServerScenarioDriver: Sendable {
    let redis: RedisClient
    let clock: ScenarioClock
    private let permits = DequeuePermits()
    private let arrivals = HandlerArrivals()
    private let running = Mutex<Running?>(nil)

    private struct Running: Sendable {
        var server: AsynqServer
        var task: Task<Void, any Error>
    }

    init(redis: RedisClient, clock: ScenarioClock) {
        self.redis = redis
        self.clock = clock
    }

    deinit {
        // A scenario that failed before `stop()`: abort the server.
        running.withLock { $0?.task.cancel() }
    }

    /// The running server's heartbeat identity (hostname, pid, server ID).
    var identity: ServerIdentity? { running.withLock { $0?.server.identity } }

    /// Starts a server and returns once its first heartbeat (written at start, as Go does) is
    /// in Redis.
    func start(_ configuration: ServerConfiguration) async throws {
        var config = AsynqServer.Configuration(
            concurrency: configuration.concurrency,
            queues: configuration.queues,
            strictPriority: configuration.strictPriority,
            logger: Logger(label: "compat.server") { _ in SwiftLogNoOpLogHandler() }
        )
        config.taskCheckInterval = .milliseconds(100)
        config.delayedTaskCheckInterval = configuration.delayedTaskCheckInterval
        config.shutdownTimeout = .seconds(3)
        let retryDelay = configuration.retryDelay
        config.retryDelay = { _, _, _ in retryDelay }
        config.groupGracePeriod = configuration.groupGracePeriod
        config.groupMaxSize = configuration.groupMaxSize
        if let aggregator = configuration.aggregator {
            config.groupAggregator = GroupAggregatorFunc { group, tasks in aggregator(group, tasks) }
        }
        let clock = self.clock
        config.now = { clock.now }
        let permits = self.permits
        config.beforeDequeue = { await permits.acquire() }
        let arrivals = self.arrivals
        let server = try AsynqServer(redis: redis, configuration: config) { task, context in
            try await arrivals.handle(task, context)
        }
        let task = Task { try await server.run() }
        running.withLock { $0 = Running(server: server, task: task) }
        await server.waitUntilStarted()
        await server.heartbeatNow()
    }

    /// One heartbeat now: server and worker state, lease extensions.
    func heartbeat() async throws {
        try await current().server.heartbeatNow()
    }

    /// Lets the processor dequeue once and returns the task it hands to the handler.
    func startProcessing(queue: String) async throws -> InFlightTask {
        _ = try current()
        permits.grant()
        let task = try await arrivals.next(timeout: .seconds(10))
        guard task.queue == queue else {
            throw ScenarioError("the server took a task of queue \(task.queue), not \(queue)")
        }
        return task
    }

    /// The handler writes a result through its ResultWriter; returns what `write` returned.
    func writeResult(_ task: InFlightTask, _ data: Data) async throws -> Int {
        try await arrivals.writeResult(task.id, data)
    }

    /// The handler returns (or throws); returns once the server recorded the outcome (the task
    /// left the active list).
    func finish(_ task: InFlightTask, _ outcome: TaskOutcome) async throws {
        try arrivals.finish(task.id, outcome)
        try await eventually("the outcome of \(task.id) written") {
            try await !self.redis.lrange(RedisKeys.active(task.queue), 0, -1).contains(task.id)
        }
    }

    /// Waits until the forwarder moved every task of `queue` that is due at the scenario time.
    func forwardDueTasks(queue: String) async throws {
        let due = RedisScoreBound.inclusive(Double(Int64(clock.now.timeIntervalSince1970.rounded(.down))))
        try await eventually("due tasks of \(queue) forwarded") {
            let scheduled = try await self.redis.zcount(RedisKeys.scheduled(queue), min: .negativeInfinity, max: due)
            let retry = try await self.redis.zcount(RedisKeys.retry(queue), min: .negativeInfinity, max: due)
            return scheduled == 0 && retry == 0
        }
    }

    /// Waits until the aggregator turned `group` of `queue` into one task (group and
    /// aggregation sets gone).
    func aggregate(queue: String, group: String) async throws {
        try await eventually("group \(group) of \(queue) aggregated") {
            try await self.redis.exists(RedisKeys.group(queue, group), RedisKeys.aggregationSets(queue)) == 0
        }
    }

    /// Graceful shutdown; fails when a handler had not finished.
    func stop() async throws {
        let state = try current()
        await state.server.shutdown()
        try await state.task.value
        running.withLock { $0 = nil }
        let leftover = arrivals.unfinished
        guard leftover.isEmpty else { throw ScenarioError("the server stopped with tasks in flight: \(leftover)") }
    }

    private func current() throws -> Running {
        guard let state = running.withLock({ $0 }) else { throw ScenarioError("the server is not running") }
        return state
    }

    /// Polls Redis until `condition` holds (at most 10 s).
    private func eventually(_ what: String, _ condition: @escaping @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw ScenarioError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// Dequeues the processor may do (`beforeDequeue` takes one).
private final class DequeuePermits: Sendable {
    private struct State {
        var available = 0
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    func grant() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let id = state.waiters.keys.min(), let waiter = state.waiters.removeValue(forKey: id) else {
                state.available += 1
                return nil
            }
            return waiter
        }
        waiter?.resume()
    }

    /// Takes a permit; returns without one when the waiting task is cancelled.
    func acquire() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.available > 0 {
                        state.available -= 1
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// The scenario's handler: every task it is given waits for the step that says what to do.
private final class HandlerArrivals: Sendable {
    enum Command: Sendable {
        /// Write the result; the reply goes to the task's entry in `State.replies`.
        case writeResult(Data)
        case finish(TaskOutcome)
    }

    private struct State {
        var arrived: [InFlightTask] = []
        var arrivalWaiter: CheckedContinuation<InFlightTask?, Never>?
        var commands: [String: AsyncStream<Command>.Continuation] = [:]
        /// The step waiting for a handler's `write` (one at a time per task).
        var replies: [String: CheckedContinuation<Result<Int, any Error>, Never>] = [:]
    }

    private let state = Mutex(State())

    var unfinished: [String] { state.withLock { $0.commands.keys.sorted() } }

    /// The handler body.
    func handle(_ task: AsynqTask, _ context: TaskContext) async throws {
        let (commands, continuation) = AsyncStream.makeStream(of: Command.self)
        let arrival = InFlightTask(id: context.taskID, queue: context.queue)
        let waiter = state.withLock { state -> CheckedContinuation<InFlightTask?, Never>? in
            state.commands[arrival.id] = continuation
            guard let waiter = state.arrivalWaiter else {
                state.arrived.append(arrival)
                return nil
            }
            state.arrivalWaiter = nil
            return waiter
        }
        waiter?.resume(returning: arrival)
        defer {
            // A step still waiting for this handler learns that it is gone.
            let reply = state.withLock { state in
                state.commands.removeValue(forKey: arrival.id)
                return state.replies.removeValue(forKey: arrival.id)
            }
            reply?.resume(returning: .failure(ScenarioError("the handler of \(arrival.id) ended")))
        }
        for await command in commands {
            switch command {
            case .writeResult(let data):
                let result: Result<Int, any Error>
                do {
                    result = .success(try await context.resultWriter.write(data))
                } catch {
                    result = .failure(error)
                }
                state.withLock { $0.replies.removeValue(forKey: arrival.id) }?.resume(returning: result)
            case .finish(.success):
                return
            case .finish(.failure(let text)):
                throw HandlerFailure(description: text)
            case .finish(.skipRetry(let reason)):
                throw AsynqError.skipRetry(reason)
            }
        }
        throw CancellationError()
    }

    /// The next task handed to the handler.
    func next(timeout: Duration) async throws -> InFlightTask {
        let arrival = await withTaskGroup(of: InFlightTask?.self) { group in
            group.addTask { await self.waitForArrival() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let arrival else { throw ScenarioError("no task reached the handler within \(timeout)") }
        return arrival
    }

    private func waitForArrival() async -> InFlightTask? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<InFlightTask?, Never>) in
                let ready = state.withLock { state -> InFlightTask?? in
                    if !state.arrived.isEmpty { return .some(state.arrived.removeFirst()) }
                    if Task.isCancelled { return .some(nil) }
                    state.arrivalWaiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.arrivalWaiter = nil }
                return state.arrivalWaiter
            }
            waiter?.resume(returning: nil)
        }
    }

    func writeResult(_ id: String, _ data: Data) async throws -> Int {
        let result = await withCheckedContinuation { (reply: CheckedContinuation<Result<Int, any Error>, Never>) in
            let commands = state.withLock { state -> AsyncStream<Command>.Continuation? in
                guard let commands = state.commands[id], state.replies[id] == nil else { return nil }
                state.replies[id] = reply
                return commands
            }
            guard let commands else {
                reply.resume(returning: .failure(ScenarioError("task \(id) is not in the handler")))
                return
            }
            commands.yield(.writeResult(data))
        }
        return try result.get()
    }

    func finish(_ id: String, _ outcome: TaskOutcome) throws {
        try channel(id).yield(.finish(outcome))
    }

    private func channel(_ id: String) throws -> AsyncStream<Command>.Continuation {
        guard let channel = state.withLock({ $0.commands[id] }) else {
            throw ScenarioError("task \(id) is not in the handler")
        }
        return channel
    }
}

/// A handler error with a fixed text (Go: `errors.New(text)`).
private struct HandlerFailure: Error, CustomStringConvertible {
    var description: String
}
