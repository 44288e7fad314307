import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real `redis-server` started for a test, on free ports of 127.0.0.1 and in its own temporary
/// directory, with no persistence (`--save "" --appendonly no`).
///
/// ```swift
/// try await withRedisServer(.init(password: "secret")) { server in
///     let client = try await RedisClient.connect(server.connectionOptions())
///     ...
/// }
/// ```
///
/// The process is a `SupervisedProcess`: it cannot outlive the test process (see there), its
/// output goes to `logFile`, and readiness is the "Ready to accept connections" line. `stop()`
/// ends it and removes the directory; `kill()` simulates a crash and `restart()` brings it back on
/// the same ports; `pause()` / `resume()` freeze it (SIGSTOP / SIGCONT) to test timeouts.
///
/// Groups of servers are built on it: `RedisSentinelGroup` (master, replicas and sentinels) and
/// `RedisTestCluster` (nodes started with `extraArguments: ["--cluster-enabled", "yes"]`, which
/// also gets them a free `clusterBusPort`).
public final class RedisTestServer: Sendable {
    /// An ACL user created at start (`user <name> ><password> <rules...>`).
    public struct ACLUser: Sendable, Hashable {
        public var name: String
        public var password: String
        /// ACL rules, e.g. `["on", "~*", "&*", "+@all"]`.
        public var rules: [String]

        public init(name: String, password: String, rules: [String] = ["on", "~*", "&*", "+@all"]) {
            self.name = name
            self.password = password
            self.rules = rules
        }
    }

    public struct Options: Sendable {
        /// Also listen on a unix socket in the server's directory.
        public var unixSocket: Bool
        /// `requirepass`: the password of the default user.
        public var password: String?
        public var aclUsers: [ACLUser]
        /// Also listen with TLS on `tlsPort`, with certificates made for the occasion
        /// (`tls-auth-clients optional`: client certificates are checked when sent).
        public var tls: Bool
        /// Added last to the command line, e.g. `["--cluster-enabled", "yes"]`.
        public var extraArguments: [String]
        public var executable: String
        public var readinessTimeout: Duration

        public init(
            unixSocket: Bool = false,
            password: String? = nil,
            aclUsers: [ACLUser] = [],
            tls: Bool = false,
            extraArguments: [String] = [],
            executable: String = "redis-server",
            readinessTimeout: Duration = .seconds(10)
        ) {
            self.unixSocket = unixSocket
            self.password = password
            self.aclUsers = aclUsers
            self.tls = tls
            self.extraArguments = extraArguments
            self.executable = executable
            self.readinessTimeout = readinessTimeout
        }
    }

    static let installHint =
        "install it with 'apt-get install -y redis-server redis-sentinel redis-tools' (scripts/test does this)"

    public let options: Options
    public let host = "127.0.0.1"
    public let port: Int
    public let tlsPort: Int?
    /// The cluster bus port, when `extraArguments` enable cluster mode.
    public let clusterBusPort: Int?
    public let unixSocketPath: String?
    public let certificates: TestCertificates?
    /// The server's own temporary directory (its `dir`), removed by `stop()`.
    public let directory: String
    /// Everything the server printed.
    public let logFile: String
    /// The command line given to the server (without the executable).
    public let arguments: [String]

    private let reservedPorts: [Int]
    private let state: Mutex<State>
    private let lifecycle = AsyncGate()

    private struct State {
        var process: SupervisedProcess?
        var lastPID: Int32
        var directoryRemoved = false
    }

    private init(
        options: Options,
        layout: Layout,
        certificates: TestCertificates?,
        arguments: [String],
        process: SupervisedProcess
    ) {
        self.options = options
        self.port = layout.port
        self.tlsPort = layout.tlsPort
        self.clusterBusPort = layout.clusterBusPort
        self.unixSocketPath = layout.unixSocketPath
        self.reservedPorts = layout.ports
        self.certificates = certificates
        self.directory = layout.directory
        self.logFile = layout.logFile
        self.arguments = arguments
        self.state = Mutex(State(process: process, lastPID: process.pid))
    }

    deinit {
        // Without stop(): the process dies with its SupervisedProcess (lifeline); tidy up the rest.
        let removed = state.withLock { $0.directoryRemoved }
        if !removed {
            Self.removeDirectory(directory)
            PortAllocator.release(reservedPorts)
        }
    }

    // MARK: Starting

    /// Starts a server and waits until it accepts connections (at most `options.readinessTimeout`).
    public static func start(_ options: Options = .init()) async throws -> RedisTestServer {
        guard Posix.findExecutable(options.executable) != nil else {
            throw TestSupportError(.executableNotFound, "\(options.executable) not found on PATH: \(installHint)")
        }
        let directory = try makeTemporaryDirectory()
        do {
            let certificates = options.tls ? try await TestCertificates.generate(in: directory) : nil
            let clusterEnabled = hasClusterEnabled(options.extraArguments)
            let portCount = 1 + (options.tls ? 1 : 0) + (clusterEnabled ? 1 : 0)
            var attempt = 1
            while true {
                let ports = try PortAllocator.reserve(count: portCount)
                var next = ports.makeIterator()
                let layout = Layout(
                    directory: directory,
                    ports: ports,
                    port: next.next() ?? 0,
                    tlsPort: options.tls ? next.next() : nil,
                    clusterBusPort: clusterEnabled ? next.next() : nil,
                    unixSocketPath: options.unixSocket ? "\(directory)/redis.sock" : nil
                )
                let arguments = makeArguments(options: options, layout: layout, certificates: certificates)
                do {
                    let process = try await SupervisedProcess.launch(
                        configuration(options: options, layout: layout, arguments: arguments)
                    )
                    return RedisTestServer(
                        options: options,
                        layout: layout,
                        certificates: certificates,
                        arguments: arguments,
                        process: process
                    )
                } catch let error as TestSupportError
                    where attempt < 5 && error.kind == .exitedBeforeReady
                    && error.recentOutput.contains(where: { $0.contains("Address already in use") })
                {
                    // Another process took a port between the probe and the server's bind.
                    PortAllocator.release(ports)
                    attempt += 1
                } catch {
                    PortAllocator.release(ports)
                    throw error
                }
            }
        } catch {
            removeDirectory(directory)
            throw error
        }
    }

    // MARK: State

    /// The PID of the redis-server process (the last one, once stopped or killed).
    public var pid: Int32 {
        state.withLock { $0.process?.pid ?? $0.lastPID }
    }

    /// Whether the server process is alive (a paused one is).
    public var isRunning: Bool {
        state.withLock { $0.process?.isRunning ?? false }
    }

    /// The last lines the server printed (the whole log is in `logFile`).
    public var recentLogLines: [String] {
        state.withLock { $0.process?.recentOutput ?? [] }
    }

    /// The current process, for tests of the supervision itself.
    package var supervisedProcess: SupervisedProcess? {
        state.withLock { $0.process }
    }

    // MARK: Lifecycle

    /// Stops the server (SIGTERM, then SIGKILL after 5 s), waits for its exit, and removes its
    /// directory. It can still be `restart()`ed (in a new directory at the same path, with new
    /// certificates at the same paths). Completes even if the task is cancelled.
    public func stop() async {
        await lifecycle.withLock {
            if let process = takeProcess() {
                await process.terminate(gracePeriod: .seconds(5))
            }
            let alreadyRemoved = state.withLock { state in
                let removed = state.directoryRemoved
                state.directoryRemoved = true
                return removed
            }
            if !alreadyRemoved {
                Self.removeDirectory(directory)
                PortAllocator.release(reservedPorts)
            }
        }
    }

    /// Kills the server with SIGKILL, as in a crash, and waits for its exit. Its directory and
    /// ports stay: `restart()` brings it back.
    public func kill() async {
        await lifecycle.withLock {
            if let process = takeProcess() {
                await process.kill()
            }
        }
    }

    /// Starts the server again with the same options, ports and directory, and waits until it is
    /// ready. A running server is stopped gracefully first.
    public func restart() async throws {
        try await lifecycle.withLock {
            if let process = takeProcess() {
                await process.terminate(gracePeriod: .seconds(5))
            }
            if state.withLock({ $0.directoryRemoved }) {
                try Self.makeDirectory(directory)
                if options.tls { _ = try await TestCertificates.generate(in: directory) }
                for port in reservedPorts { PortAllocator.reserveAgain(port) }
                state.withLock { $0.directoryRemoved = false }
            }
            let layout = Layout(
                directory: directory,
                ports: reservedPorts,
                port: port,
                tlsPort: tlsPort,
                clusterBusPort: clusterBusPort,
                unixSocketPath: unixSocketPath
            )
            let process = try await SupervisedProcess.launch(
                Self.configuration(options: options, layout: layout, arguments: arguments)
            )
            state.withLock { state in
                state.process = process
                state.lastPID = process.pid
            }
        }
    }

    /// Freezes the server with SIGSTOP: connections stay open but nothing is answered.
    public func pause() throws {
        try currentProcess().signal(SIGSTOP)
    }

    /// Lets a paused server go on (SIGCONT).
    public func resume() throws {
        try currentProcess().signal(SIGCONT)
    }

    private func currentProcess() throws(TestSupportError) -> SupervisedProcess {
        guard let process = state.withLock({ $0.process }) else {
            throw TestSupportError(.notRunning, "redis-server on port \(port) is not running")
        }
        return process
    }

    private func takeProcess() -> SupervisedProcess? {
        state.withLock { state in
            let process = state.process
            if let process { state.lastPID = process.pid }
            state.process = nil
            return process
        }
    }

    // MARK: Command line

    private struct Layout {
        var directory: String
        var ports: [Int]
        var port: Int
        var tlsPort: Int?
        var clusterBusPort: Int?
        var unixSocketPath: String?
        var logFile: String { "\(directory)/redis.log" }
    }

    private static func makeArguments(options: Options, layout: Layout, certificates: TestCertificates?) -> [String] {
        var arguments = [
            "--port", String(layout.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", layout.directory,
            "--logfile", "",
            "--daemonize", "no",
            "--enable-debug-command", "local",
        ]
        if let path = layout.unixSocketPath {
            arguments += ["--unixsocket", path, "--unixsocketperm", "700"]
        }
        if let password = options.password {
            arguments += ["--requirepass", password]
        }
        for user in options.aclUsers {
            arguments += ["--user", user.name, ">\(user.password)"] + user.rules
        }
        if let tlsPort = layout.tlsPort, let certificates {
            arguments += [
                "--tls-port", String(tlsPort),
                "--tls-cert-file", certificates.serverCert,
                "--tls-key-file", certificates.serverKey,
                "--tls-ca-cert-file", certificates.caFile,
                "--tls-auth-clients", "optional",
            ]
        }
        if let busPort = layout.clusterBusPort {
            arguments += ["--cluster-port", String(busPort)]
        }
        return arguments + options.extraArguments
    }

    private static func configuration(
        options: Options, layout: Layout, arguments: [String]
    ) -> SupervisedProcess.Configuration {
        SupervisedProcess.Configuration(
            executable: options.executable,
            arguments: arguments,
            workingDirectory: layout.directory,
            logFile: layout.logFile,
            readinessTimeout: options.readinessTimeout,
            installHint: installHint,
            removeWhenOrphaned: layout.directory,
            isReadyLine: { line in
                // "Ready to accept connections" (TCP, Redis 7.0), "... tcp" (7.2+), or
                // "The server is now ready to accept connections at <socket>".
                line.contains("Ready to accept connections") || line.contains("ready to accept connections")
            }
        )
    }

    /// Cluster mode needs a bus port; we choose one unless the caller did.
    private static func hasClusterEnabled(_ arguments: [String]) -> Bool {
        guard !arguments.contains("--cluster-port"),
            let index = arguments.firstIndex(of: "--cluster-enabled"),
            index + 1 < arguments.count
        else { return false }
        return arguments[index + 1].lowercased() == "yes"
    }

    // MARK: Directories

    /// A new private directory. Unix socket paths are limited to about 100 bytes, so a long
    /// `TMPDIR` is passed over for /tmp.
    static func makeTemporaryDirectory() throws(TestSupportError) -> String {
        var base = "/tmp"
        if let tmp = getenv("TMPDIR").map({ String(cString: $0) }), !tmp.isEmpty, tmp.utf8.count <= 60 {
            base = tmp.hasSuffix("/") ? String(tmp.dropLast()) : tmp
        }
        var template = Array("\(base)/asynq-redis-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let path else { throw Posix.systemError("mkdtemp in \(base)") }
        return path
    }

    private static func makeDirectory(_ path: String) throws(TestSupportError) {
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw Posix.systemError("mkdir \(path)")
        }
    }

    static func removeDirectory(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Starts a server, runs `body` with it, and stops it (removing its directory) whether `body`
/// returns or throws.
public func withRedisServer<T>(
    _ options: RedisTestServer.Options = .init(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisTestServer) async throws -> T
) async throws -> T {
    let server = try await RedisTestServer.start(options)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
