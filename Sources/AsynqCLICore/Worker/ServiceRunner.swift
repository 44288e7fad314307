import Logging
import ServiceLifecycle
import UnixSignals

/// Runs long-lived services (a server, the dev driver) until SIGTERM/SIGINT, until one of
/// them returns, or until the console's `shutdownRequested` returns; then shuts them all down
/// gracefully.
enum ServiceRunner {
    static func run(_ services: [any Service], console: Console, logger: Logger) async throws {
        var configurations = services.map {
            ServiceGroupConfiguration.ServiceConfiguration(
                service: $0, successTerminationBehavior: .gracefullyShutdownGroup)
        }
        if let requested = console.shutdownRequested {
            configurations.append(
                .init(
                    service: ShutdownTrigger(wait: requested),
                    successTerminationBehavior: .gracefullyShutdownGroup)
            )
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: configurations,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// Returns (shutting the group down) when `wait` returns, or when the group shuts down.
private struct ShutdownTrigger: Service {
    let wait: @Sendable () async -> Void

    func run() async throws {
        let wait = self.wait
        await cancelWhenGracefulShutdown { await wait() }
    }
}
