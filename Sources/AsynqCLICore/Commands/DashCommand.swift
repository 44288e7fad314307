import ArgumentParser
import Asynq
import AsynqRedis
import Logging

/// `asynq dash` (alias `monitor`): the live full-screen dashboard.
struct DashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dash",
        abstract: "View dashboard",
        discussion: """
            Displays a live dashboard of queues, servers and tasks that updates every --refresh
            interval. Up/down (or j/k) select, Enter opens a queue, left/right pick a task state,
            n/p page, Enter shows a task, Esc goes back, ? lists every key, q quits.

            Examples:
              $ asynq dash
              $ asynq dash --refresh=3s
              $ asynq monitor -u redis.internal:6379
            """,
        aliases: ["monitor"]
    )

    @OptionGroup var globals: GlobalOptions

    @Option(help: "Interval between data refreshes, a Go duration such as 2s or 1m (at least 1s)")
    var refresh = "8s"

    @Flag(help: "Draw with ASCII characters only (by default Unicode when the locale is UTF-8)")
    var ascii = false

    func run() async throws {
        let console = Console.current
        let interval = try CLIFormat.duration(refresh, flag: "--refresh")
        if interval < .seconds(1) { throw CLIError("--refresh cannot be less than 1s") }
        guard console.isInputTerminal, console.isOutputTerminal else {
            throw CLIError(
                "asynq dash needs a terminal: standard input and output must be connected to one "
                    + "(use 'asynq stats' or 'asynq queue inspect' in scripts)")
        }
        var options = try globals.connectionOptions(console: console)
        // The dashboard keeps going while Redis is away and notices soon when it is back.
        options.connectTimeout = .seconds(3)
        options.commandTimeout = .seconds(5)
        options.reconnectBackoff = (.milliseconds(100), .seconds(2))
        // Library log lines would scribble over the full-screen view: errors show on its
        // status line instead.
        let silent = Logger(label: "asynq.dash") { _ in SwiftLogNoOpLogHandler() }
        let redis = try RedisClient(options: options, logger: silent)
        let config = DashConfig(
            target: Self.describe(options),
            refresh: interval,
            unicode: !ascii && Self.isUTF8(console.environment)
        )
        do {
            let terminal = try DashTerminal()
            try await DashSession.run(
                terminal: terminal, source: DashDataSource(inspector: AsynqInspector(redis: redis)), config: config,
                abort: { await redis.close() })
        } catch {
            await redis.close()
            throw error
        }
        await redis.close()
    }

    /// What the title bar names as the data's origin.
    static func describe(_ options: RedisConnectionOptions) -> String {
        var text: String
        switch options.topology {
        case .standalone(let address): text = address.description
        case .sentinel(let master, _, _, _): text = "sentinel master \(master)"
        case .cluster(let nodes): text = "cluster \(nodes.first?.description ?? "")"
        }
        if options.database != 0 { text += " db \(options.database)" }
        if options.tls != nil { text += " (TLS)" }
        return text
    }

    /// Whether the locale's character set is UTF-8 (LC_ALL, else LC_CTYPE, else LANG).
    static func isUTF8(_ environment: [String: String]) -> Bool {
        for name in ["LC_ALL", "LC_CTYPE", "LANG"] {
            guard let value = environment[name], !value.isEmpty else { continue }
            let lowered = value.lowercased()
            return lowered.contains("utf-8") || lowered.contains("utf8")
        }
        return false
    }
}
