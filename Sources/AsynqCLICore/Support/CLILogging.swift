import Foundation
package import Logging

/// Loggers for the library parts a command uses: lines on the console's standard error, at
/// `error` (a failed command says why in its own line) unless `ASYNQ_LOG_LEVEL` (trace, debug, info, notice, warning, error, critical)
/// says otherwise.
package enum CLILogging {
    package static func level(from environment: [String: String]) -> Logger.Level? {
        guard let text = environment["ASYNQ_LOG_LEVEL"]?.lowercased() else { return nil }
        if text == "warn" { return .warning }
        return Logger.Level(rawValue: text)
    }

    package static func logger(
        _ label: String, console: Console = .current, level: Logger.Level? = nil
    ) -> Logger {
        let chosen = level ?? Self.level(from: console.environment) ?? .error
        return Logger(label: label) { label in
            ConsoleLogHandler(label: label, console: console, logLevel: chosen)
        }
    }
}

/// `2024-01-02T15:04:05Z warning asynq.server: message key=value` lines on standard error.
struct ConsoleLogHandler: LogHandler {
    let label: String
    let console: Console
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, console: Console, logLevel: Logger.Level) {
        self.label = label
        self.console = console
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var line = "\(CLIFormat.rfc3339Nano(Date())) \(event.level) \(label): \(event.message)"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        console.printError(line)
    }
}
