import AsynqCLICore
import Foundation
import Logging

// Swift concurrency on SwiftNIO's event loops (see `AsynqCLI.installExecutor`); first, before
// any task starts.
AsynqCLI.installExecutor(environment: ProcessInfo.processInfo.environment)

// Library logs go to standard error at warning level unless ASYNQ_LOG_LEVEL says otherwise;
// commands that run workers pass their own loggers.
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = CLILogging.level(from: ProcessInfo.processInfo.environment) ?? .warning
    return handler
}
exit(await AsynqCLI.run(Array(CommandLine.arguments.dropFirst())))
