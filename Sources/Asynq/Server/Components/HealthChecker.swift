import AsynqRedis

/// Every `healthCheckInterval` sends `PING` and reports the result to the configured callback.
final class HealthChecker: Sendable {
    private let runtime: ServerRuntime
    private let check: @Sendable ((any Error)?) async -> Void

    init(runtime: ServerRuntime, check: @escaping @Sendable ((any Error)?) async -> Void) {
        self.runtime = runtime
        self.check = check
    }

    func run(stop: ServerEvent) async {
        while !(await shouldStop(after: runtime.config.healthCheckInterval, or: stop)) {
            do {
                try await runtime.broker.redis.ping()
                await check(nil)
            } catch {
                await check(RedisBroker.map(error))
            }
        }
    }
}
