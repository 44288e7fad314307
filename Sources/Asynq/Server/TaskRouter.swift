import Synchronization

/// Wraps task processing: runs code before and after the next handler, or replaces it
/// (Go's `MiddlewareFunc`). Middleware registered first runs outermost.
///
/// ```swift
/// struct Timing: TaskMiddleware {
///     func processTask(_ task: AsynqTask, context: TaskContext, next: any TaskHandler) async throws {
///         let start = ContinuousClock.now
///         defer { context.logger.info("took \(ContinuousClock.now - start)") }
///         try await next.processTask(task, context: context)
///     }
/// }
/// ```
public protocol TaskMiddleware: Sendable {
    func processTask(_ task: AsynqTask, context: TaskContext, next: any TaskHandler) async throws
}

/// A middleware made from a closure.
public struct TaskMiddlewareFunc: TaskMiddleware {
    private let body: @Sendable (AsynqTask, TaskContext, any TaskHandler) async throws -> Void

    public init(_ body: @escaping @Sendable (AsynqTask, TaskContext, any TaskHandler) async throws -> Void) {
        self.body = body
    }

    public func processTask(_ task: AsynqTask, context: TaskContext, next: any TaskHandler) async throws {
        try await body(task, context, next)
    }
}

/// Routes tasks to handlers by type name (Go's `ServeMux`).
///
/// Matching: a pattern equal to the task type wins; otherwise the **longest** registered
/// pattern that is a plain string prefix of the type (`"email"` matches `"emailer:x"`; there are
/// no segment semantics). Tasks without a match fail with `handler not found for task "<type>"`
/// (code ``AsynqError/Code/handlerNotFound``), an ordinary failure that is retried.
///
/// Registering a blank pattern or the same pattern twice is a programming error and traps
/// (`precondition`), as Go panics: routes are set up once at start, and a throwing `handle`
/// would burden every call site with error handling for a mistake that cannot be recovered
/// from at run time. Registration and dispatch are safe from any task.
public final class TaskRouter: TaskHandler, Sendable {
    private struct Route {
        var pattern: String
        var handler: any TaskHandler
    }

    private struct State {
        var exact: [String: any TaskHandler] = [:]
        /// Every route, longest pattern first.
        var byLength: [Route] = []
        var middlewares: [any TaskMiddleware] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers `handler` for task types equal to, or starting with, `pattern`.
    public func handle(_ pattern: String, _ handler: some TaskHandler) {
        precondition(
            !pattern.allSatisfy(\.isWhitespace),
            "asynq: invalid pattern: a pattern must contain non-whitespace characters"
        )
        state.withLock { state in
            precondition(state.exact[pattern] == nil, "asynq: multiple registrations for \(pattern)")
            state.exact[pattern] = handler
            let index = state.byLength.firstIndex { $0.pattern.utf8.count < pattern.utf8.count } ?? state.byLength.count
            state.byLength.insert(Route(pattern: pattern, handler: handler), at: index)
        }
    }

    /// Registers a closure for task types equal to, or starting with, `pattern`.
    public func handle(
        _ pattern: String,
        _ body: @escaping @Sendable (AsynqTask, TaskContext) async throws -> Void
    ) {
        handle(pattern, TaskHandlerFunc(body))
    }

    /// Appends middleware; the first one registered runs outermost.
    public func use(_ middlewares: any TaskMiddleware...) {
        state.withLock { $0.middlewares.append(contentsOf: middlewares) }
    }

    /// Appends a closure middleware.
    public func use(_ body: @escaping @Sendable (AsynqTask, TaskContext, any TaskHandler) async throws -> Void) {
        use(TaskMiddlewareFunc(body))
    }

    /// The handler `task` is dispatched to (already wrapped in the middleware) and the pattern
    /// that matched; the pattern is empty when no route matches (the not-found handler).
    public func handler(for task: AsynqTask) -> (handler: any TaskHandler, pattern: String) {
        let (matched, middlewares) = state.withLock { state -> (Route?, [any TaskMiddleware]) in
            if let handler = state.exact[task.type] {
                return (Route(pattern: task.type, handler: handler), state.middlewares)
            }
            let route = state.byLength.first { task.type.hasPrefix($0.pattern) }
            return (route, state.middlewares)
        }
        var handler: any TaskHandler = matched?.handler ?? Self.notFoundHandler
        for middleware in middlewares.reversed() {
            handler = MiddlewareHandler(middleware: middleware, next: handler)
        }
        return (handler, matched?.pattern ?? "")
    }

    public func processTask(_ task: AsynqTask, context: TaskContext) async throws {
        try await handler(for: task).handler.processTask(task, context: context)
    }

    /// The handler used for task types without a route: it fails with
    /// `handler not found for task "<type>"`.
    public static let notFoundHandler: any TaskHandler = TaskHandlerFunc { task, _ in
        throw AsynqError.handlerNotFound(taskType: task.type)
    }
}

extension AsynqError {
    /// The not-found failure of ``TaskRouter`` (Go wraps `ErrHandlerNotFound` the same way).
    public static func handlerNotFound(taskType: String) -> AsynqError {
        AsynqError(.handlerNotFound, "handler not found for task \(GoFormat.quote(taskType))")
    }
}

private struct MiddlewareHandler: TaskHandler {
    let middleware: any TaskMiddleware
    let next: any TaskHandler

    func processTask(_ task: AsynqTask, context: TaskContext) async throws {
        try await middleware.processTask(task, context: context, next: next)
    }
}
