import Asynq
import AsynqRedis
import Foundation
import Logging
import Testing

// TaskRouter (ServeMux) matching, middleware order and the not-found failure; typed payloads.
// No Redis needed: handlers run with a hand-made TaskContext.

private func context(for task: AsynqTask) throws -> TaskContext {
    var message = TaskMessage()
    message.id = "id-1"
    message.type = task.type
    message.queue = "default"
    message.retry = 25
    // A client that never connects: these tests do not write results.
    let redis = try RedisClient(options: .standalone(host: "127.0.0.1", port: 1))
    return TaskContext(
        message: message, deadline: Date().addingTimeInterval(60), logger: Logger(label: "test"),
        broker: RedisBroker(redis: redis))
}

struct ServerTestRoute: Sendable, CustomTestStringConvertible {
    var type: String
    var pattern: String
    var testDescription: String { "\(type) → \(pattern.isEmpty ? "not found" : pattern)" }
}

@Suite("Server: TaskRouter")
struct ServerRouterTests {
    static let patterns = ["email:", "email:deliver", "image", "image:resize:large", "e"]

    static let routes: [ServerTestRoute] = [
        ServerTestRoute(type: "email:deliver", pattern: "email:deliver"),  // exact beats prefixes
        ServerTestRoute(type: "email:deliver:bulk", pattern: "email:deliver"),  // longest prefix
        ServerTestRoute(type: "email:welcome", pattern: "email:"),
        ServerTestRoute(type: "emailer:x", pattern: "e"),  // plain prefix, no segment semantics
        ServerTestRoute(type: "image", pattern: "image"),
        ServerTestRoute(type: "imagery", pattern: "image"),
        ServerTestRoute(type: "image:resize:large:2x", pattern: "image:resize:large"),
        ServerTestRoute(type: "image:resize:small", pattern: "image"),
        ServerTestRoute(type: "video", pattern: ""),
        ServerTestRoute(type: "", pattern: ""),
    ]

    @Test("exact match, then the longest prefix", arguments: routes)
    func matching(_ route: ServerTestRoute) throws {
        let router = TaskRouter()
        for pattern in Self.patterns { router.handle(pattern) { _, _ in } }
        #expect(router.handler(for: AsynqTask(type: route.type)).pattern == route.pattern)
    }

    @Test("the matched handler runs")
    func dispatch() async throws {
        let router = TaskRouter()
        let calls = ServerTestRecorder<String>()
        router.handle("a") { task, _ in calls.record("a:\(task.type)") }
        router.handle("a:b") { task, _ in calls.record("a:b:\(task.type)") }
        for type in ["a:x", "a:b:c", "a"] {
            let task = AsynqTask(type: type)
            try await router.processTask(task, context: context(for: task))
        }
        #expect(calls.values == ["a:a:x", "a:b:a:b:c", "a:a"])
    }

    @Test("unknown types fail with handler not found")
    func notFound() async throws {
        let router = TaskRouter()
        router.handle("known") { _, _ in }
        let task = AsynqTask(type: "unknown:type")
        let error = await #expect(throws: AsynqError.self) {
            try await router.processTask(task, context: try context(for: task))
        }
        #expect(error?.code == .handlerNotFound)
        #expect(error?.description == #"handler not found for task "unknown:type""#)
        #expect(error?.isAsynqError(.handlerNotFound) == true)
    }

    @Test("middleware registered first runs outermost, also around the not-found handler")
    func middlewareOrder() async throws {
        let router = TaskRouter()
        let trace = ServerTestRecorder<String>()
        router.use { task, context, next in
            trace.record("outer>")
            defer { trace.record("<outer") }
            try await next.processTask(task, context: context)
        }
        router.use(
            TaskMiddlewareFunc { task, context, next in
                trace.record("inner>")
                defer { trace.record("<inner") }
                try await next.processTask(task, context: context)
            })
        router.handle("t") { _, _ in trace.record("handler") }
        let task = AsynqTask(type: "t")
        try await router.processTask(task, context: context(for: task))
        #expect(trace.values == ["outer>", "inner>", "handler", "<inner", "<outer"])

        let missing = AsynqTask(type: "missing")
        await #expect(throws: AsynqError.self) {
            try await router.processTask(missing, context: try context(for: missing))
        }
        #expect(trace.values.suffix(4) == ["outer>", "inner>", "<inner", "<outer"])
    }

    @Test("a middleware can short-circuit")
    func shortCircuit() async throws {
        let router = TaskRouter()
        let calls = ServerTestRecorder<String>()
        router.use { _, _, _ in throw AsynqError.skipRetry("blocked") }
        router.handle("t") { _, _ in calls.record("handler") }
        let task = AsynqTask(type: "t")
        await #expect(throws: AsynqError.skipRetry("blocked")) {
            try await router.processTask(task, context: try context(for: task))
        }
        #expect(calls.values.isEmpty)
    }

    @Test("typed payloads decode JSON; undecodable payloads fail with skipRetry")
    func typedPayload() async throws {
        let router = TaskRouter()
        let received = ServerTestRecorder<ServerTestEmail>()
        router.handle(ServerTestEmail.self) { email, _ in received.record(email) }
        let email = ServerTestEmail(
            userID: 42, template: "welcome/1", sentAt: Date(timeIntervalSince1970: 1_700_000_000.5))
        let task = try email.makeTask()
        #expect(task.type == "email:deliver")
        #expect(
            String(decoding: task.payload ?? Data(), as: UTF8.self)
                == #"{"sentAt":"2023-11-14T22:13:20.500Z","template":"welcome/1","userID":42}"#)
        try await router.processTask(task, context: context(for: task))
        #expect(received.values == [email])

        let bad = AsynqTask(type: "email:deliver", payload: "not json")
        let error = await #expect(throws: AsynqError.self) {
            try await router.processTask(bad, context: try context(for: bad))
        }
        #expect(error?.code == .skipRetry)
        #expect(
            error?.message.hasPrefix(#"could not decode the payload of task "email:deliver" as ServerTestEmail"#)
                == true)
        #expect(error?.message.hasSuffix(": skip retry for the task") == true)
    }
}

struct ServerTestEmail: TaskPayload, Equatable {
    static let taskType = "email:deliver"
    var userID: Int
    var template: String
    var sentAt: Date
}
