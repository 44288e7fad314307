package import ArgumentParser
package import AsynqRedis
import Foundation

/// The Go CLI's global flags. Every leaf command includes them, and the runner moves global
/// flags written before the subcommand (`asynq -u host:6380 stats`) behind it, so they work
/// anywhere on the command line, as cobra's persistent flags do.
///
/// Each value comes from, in order: the flag; the environment variable `ASYNQ_<KEY>` (e.g.
/// `ASYNQ_URI`, `ASYNQ_DB`); the config file (`--config`, default `$HOME/.asynq.yaml`, lines of
/// `key: value` with the keys `uri`, `db`, `password`, `username`, `cluster`, `cluster_addrs`,
/// `tls`, `tls_server`, `insecure`); the default.
package struct GlobalOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("config"),
        help: "Config file to set flag default values (default is $HOME/.asynq.yaml)")
    package var config: String?

    @Option(
        name: [.customShort("u"), .customLong("uri")],
        help:
            "Redis server address host:port (default 127.0.0.1:6379), or a redis://, rediss://, redis-socket:// URI"
    )
    package var uri: String?

    @Option(
        name: [.customShort("n"), .customLong("db")], help: "Redis database number (default is 0)")
    package var db: Int?

    @Option(
        name: [.customShort("p"), .customLong("password")],
        help: "Password to use when connecting to redis server")
    package var password: String?

    @Option(
        name: [.customShort("U"), .customLong("username")],
        help: "Username to use when connecting to redis server")
    package var username: String?

    @Flag(name: .customLong("cluster"), help: "Connect to redis cluster")
    package var cluster = false

    @Option(
        name: .customLong("cluster_addrs"),
        help: "List of comma-separated redis server addresses (default 127.0.0.1:7000,…,127.0.0.1:7005)"
    )
    package var clusterAddrs: String?

    @Flag(name: .customLong("tls"), help: "Enable TLS connection")
    package var tls = false

    @Option(name: .customLong("tls_server"), help: "Server name for TLS validation (enables TLS)")
    package var tlsServer: String?

    @Flag(
        name: .customLong("insecure"), help: "Allow insecure TLS connection by skipping cert validation"
    )
    package var insecure = false

    package init() {}

    /// Names of the global options that take a value, and of the global flags (for the runner).
    static let valueOptionNames: Set<String> = [
        "--config", "-u", "--uri", "-n", "--db", "-p", "--password", "-U", "--username",
        "--cluster_addrs",
        "--tls_server",
    ]
    static let flagNames: Set<String> = ["--cluster", "--tls", "--insecure"]

    static let defaultClusterAddresses =
        "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005"

    /// The connection options these flags describe, with the environment and config file of
    /// `console`. Prints `Using config file: <path>` on standard error when one was read.
    package func connectionOptions(console: Console = .current) throws -> RedisConnectionOptions {
        try Settings(self, console: console).connectionOptions()
    }

    /// Every setting after flags, environment and config file were merged.
    struct Settings {
        var uri = "127.0.0.1:6379"
        var db: Int?
        var password: String?
        var username: String?
        var cluster = false
        var clusterAddrs = GlobalOptions.defaultClusterAddresses
        var tls = false
        var tlsServer: String?
        var insecure = false

        init(_ flags: GlobalOptions, console: Console) throws {
            var values: [String: String] = [:]
            // Config file (lowest precedence).
            if let path = flags.config ?? console.environment["ASYNQ_CONFIG"] {
                values = try ConfigFile.read(path: path)
                console.printError("Using config file: \(path)")
            } else if let home = console.environment["HOME"], !home.isEmpty {
                let path = (home as NSString).appendingPathComponent(".asynq.yaml")
                if FileManager.default.fileExists(atPath: path) {
                    values = try ConfigFile.read(path: path)
                    console.printError("Using config file: \(path)")
                }
            }
            // Environment.
            for key in ConfigFile.keys {
                if let value = console.environment["ASYNQ_" + key.uppercased()] { values[key] = value }
            }
            // Flags.
            if let value = flags.uri { values["uri"] = value }
            if let value = flags.db { values["db"] = String(value) }
            if let value = flags.password { values["password"] = value }
            if let value = flags.username { values["username"] = value }
            if flags.cluster { values["cluster"] = "true" }
            if let value = flags.clusterAddrs { values["cluster_addrs"] = value }
            if flags.tls { values["tls"] = "true" }
            if let value = flags.tlsServer { values["tls_server"] = value }
            if flags.insecure { values["insecure"] = "true" }

            if let value = values["uri"], !value.isEmpty { uri = value }
            if let value = values["db"] {
                guard let number = Int(value.trimmingCharacters(in: .whitespaces)), number >= 0 else {
                    throw CLIError(
                        "invalid database number \(CLIFormat.quote(value)) (expected an integer ≥ 0)")
                }
                db = number
            }
            if let value = values["password"], !value.isEmpty { password = value }
            if let value = values["username"], !value.isEmpty { username = value }
            cluster = try Self.bool(values["cluster"], key: "cluster")
            if let value = values["cluster_addrs"], !value.isEmpty { clusterAddrs = value }
            tls = try Self.bool(values["tls"], key: "tls")
            if let value = values["tls_server"], !value.isEmpty { tlsServer = value }
            insecure = try Self.bool(values["insecure"], key: "insecure")
        }

        static func bool(_ value: String?, key: String) throws -> Bool {
            guard let value else { return false }
            switch value.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off", "": return false
            default:
                throw CLIError(
                    "invalid value \(CLIFormat.quote(value)) for \(key) (expected true or false)")
            }
        }

        func connectionOptions() throws -> RedisConnectionOptions {
            var options: RedisConnectionOptions
            if cluster {
                var nodes: [RedisServerAddress] = []
                for part in clusterAddrs.split(separator: ",") {
                    let text = part.trimmingCharacters(in: .whitespaces)
                    if text.isEmpty { continue }
                    do {
                        nodes.append(try RedisServerAddress(parsing: text))
                    } catch {
                        throw CLIError(
                            "invalid --cluster_addrs entry \(CLIFormat.quote(text)): \(CLIFormat.describe(error))"
                        )
                    }
                }
                guard !nodes.isEmpty else { throw CLIError("--cluster_addrs lists no address") }
                options = .cluster(nodes: nodes)
            } else if uri.contains("://") {
                do {
                    options = try RedisConnectionOptions(uri: uri)
                } catch {
                    throw CLIError("invalid --uri: \(CLIFormat.describe(error))")
                }
            } else {
                do {
                    options = RedisConnectionOptions(
                        topology: .standalone(try RedisServerAddress(parsing: uri)))
                } catch {
                    throw CLIError(
                        "invalid --uri \(CLIFormat.quote(uri)): \(CLIFormat.describe(error)) (expected host:port)"
                    )
                }
            }
            if let db, !cluster { options.database = db }
            if let password { options.password = password }
            if let username { options.username = username }
            if let tlsServer {
                var settings = options.tls ?? RedisTLSConfiguration()
                settings.serverName = tlsServer
                settings.skipVerify = insecure
                options.tls = settings
            } else if tls {
                var settings = options.tls ?? RedisTLSConfiguration()
                settings.skipVerify = insecure
                options.tls = settings
            } else if insecure, var settings = options.tls {
                settings.skipVerify = true
                options.tls = settings
            }
            // A command-line tool should fail fast when Redis is not there.
            options.connectTimeout = .seconds(5)
            options.commandTimeout = .seconds(30)
            return options
        }
    }
}

/// The config file: `key: value` lines (a tiny subset of YAML). `#` starts a comment; values
/// may be quoted with `"` or `'`.
package enum ConfigFile {
    static let keys = [
        "uri", "db", "password", "username", "cluster", "cluster_addrs", "tls", "tls_server",
        "insecure",
    ]

    static func read(path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read config file \(CLIFormat.quote(path))")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    package static func parse(_ text: String, path: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let trimmed = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed == "---" { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw CLIError("config file \(path), line \(index + 1): expected 'key: value'")
            }
            let key = trimmed[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            var value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if let quote = value.first, quote == "\"" || quote == "'" {
                let body = value.dropFirst()
                guard let end = body.firstIndex(of: quote) else {
                    throw CLIError("config file \(path), line \(index + 1): unterminated quote")
                }
                value = String(body[..<end])
            } else if let comment = value.range(of: " #") {
                value = value[..<comment.lowerBound].trimmingCharacters(in: .whitespaces)
            }
            if keys.contains(key) { values[key] = value }
        }
        return values
    }
}
