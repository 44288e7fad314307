public import AsynqRedis
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A Sentinel-monitored group started for a test: one master, replicas (one by default) and
/// sentinels (three), all real processes on free ports of 127.0.0.1, each in its own temporary
/// directory.
///
/// ```swift
/// try await withRedisSentinelGroup { group in
///     let redis = try RedisClient(options: group.connectionOptions())
///     let old = try await group.killMaster()
///     let new = try await group.waitForFailover(from: old)
/// }
/// ```
///
/// The sentinels use a short `down-after-milliseconds` (1 s by default), so a killed master is
/// replaced within a few seconds. `start` returns once the replicas are in sync and every
/// sentinel knows the replicas and the other sentinels (otherwise a failover could not happen).
/// Every process is a `SupervisedProcess`, stopped by PID and never outliving the test process.
public final class RedisSentinelGroup: Sendable {
    public struct Options: Sendable {
        public var masterName: String
        /// `requirepass` of the master and replicas (also their `masterauth`, and the sentinels' `auth-pass`).
        public var password: String?
        /// `requirepass` of the sentinels (also their `sentinel-pass` to talk to one another).
        public var sentinelPassword: String?
        public var replicaCount: Int
        public var sentinelCount: Int
        /// `sentinel down-after-milliseconds`.
        public var downAfter: Duration
        /// `sentinel failover-timeout`.
        public var failoverTimeout: Duration
        /// Longest wait for the whole group to be ready.
        public var readinessTimeout: Duration

        public init(
            masterName: String = "mymaster",
            password: String? = nil,
            sentinelPassword: String? = nil,
            replicaCount: Int = 1,
            sentinelCount: Int = 3,
            downAfter: Duration = .milliseconds(1000),
            failoverTimeout: Duration = .milliseconds(3000),
            readinessTimeout: Duration = .seconds(30)
        ) {
            self.masterName = masterName
            self.password = password
            self.sentinelPassword = sentinelPassword
            self.replicaCount = max(1, replicaCount)
            self.sentinelCount = max(1, sentinelCount)
            self.downAfter = downAfter
            self.failoverTimeout = failoverTimeout
            self.readinessTimeout = readinessTimeout
        }
    }

    /// One `redis-sentinel` process.
    public final class Sentinel: Sendable {
        public let port: Int
        public let directory: String
        public let logFile: String
        let process: SupervisedProcess

        init(port: Int, directory: String, logFile: String, process: SupervisedProcess) {
            self.port = port
            self.directory = directory
            self.logFile = logFile
            self.process = process
        }

        public var address: RedisServerAddress { .tcp(host: "127.0.0.1", port: port) }
        public var pid: Int32 { process.pid }
        /// Alive (paused or not).
        public var isRunning: Bool { process.isRunning }
        /// Frozen by ``pause()``.
        public var isPaused: Bool { paused.withLock { $0 } }
        private let paused = Mutex(false)

        /// Freezes the sentinel (SIGSTOP): its connections stay open but it answers nothing and
        /// takes no part in failovers.
        public func pause() throws {
            try process.signal(SIGSTOP)
            paused.withLock { $0 = true }
        }

        /// Lets a paused sentinel go on (SIGCONT).
        public func resume() throws {
            try process.signal(SIGCONT)
            paused.withLock { $0 = false }
        }

        /// Running and not paused.
        var isAnswering: Bool { isRunning && !isPaused }
    }

    public let options: Options
    /// The data servers; the first one is the initial master, the others its replicas.
    public let servers: [RedisTestServer]
    public let sentinels: [Sentinel]
    private let stopped = Mutex(false)
    private let lastKilledMaster = Mutex<RedisServerAddress?>(nil)

    private init(options: Options, servers: [RedisTestServer], sentinels: [Sentinel]) {
        self.options = options
        self.servers = servers
        self.sentinels = sentinels
    }

    // MARK: Starting

    /// Starts the master, its replicas and the sentinels, and waits until a failover is possible.
    public static func start(_ options: Options = .init()) async throws -> RedisSentinelGroup {
        var servers: [RedisTestServer] = []
        var sentinels: [Sentinel] = []
        do {
            // Replicas sync at once instead of after the default 5 s of diskless sync delay.
            let auth = (options.password.map { ["--masterauth", $0] } ?? []) + ["--repl-diskless-sync-delay", "0"]
            let master = try await RedisTestServer.start(.init(password: options.password, extraArguments: auth))
            servers.append(master)
            for _ in 0..<options.replicaCount {
                let replica = try await RedisTestServer.start(
                    .init(
                        password: options.password,
                        extraArguments: auth + ["--replicaof", master.host, String(master.port)]
                    )
                )
                servers.append(replica)
            }
            for replica in servers.dropFirst() {
                try await pollUntil("replica \(replica.port) in sync", timeout: options.readinessTimeout) {
                    try await withConnection(
                        to: .tcp(host: replica.host, port: replica.port), options: replica.connectionOptions()
                    ) {
                        try await $0.info("replication").contains("master_link_status:up")
                    }
                }
            }
            for _ in 0..<options.sentinelCount {
                sentinels.append(try await startSentinel(options: options, masterPort: master.port))
            }
            let group = RedisSentinelGroup(options: options, servers: servers, sentinels: sentinels)
            try await group.waitUntilSentinelsAgree()
            return group
        } catch {
            for sentinel in sentinels { await stop(sentinel) }
            for server in servers { await server.stop() }
            throw error
        }
    }

    private static func startSentinel(options: Options, masterPort: Int) async throws -> Sentinel {
        let directory = try RedisTestServer.makeTemporaryDirectory()
        var attempt = 1
        while true {
            let port = try PortAllocator.reserveOne()
            let configFile = "\(directory)/sentinel.conf"
            let logFile = "\(directory)/sentinel.log"
            let name = options.masterName
            var lines = [
                "port \(port)",
                "bind 127.0.0.1",
                "daemonize no",
                "logfile \"\"",
                "dir \(directory)",
                "sentinel monitor \(name) 127.0.0.1 \(masterPort) \(options.sentinelCount / 2 + 1)",
                "sentinel down-after-milliseconds \(name) \(options.downAfter.milliseconds)",
                "sentinel failover-timeout \(name) \(options.failoverTimeout.milliseconds)",
                "sentinel parallel-syncs \(name) 1",
            ]
            if let password = options.password { lines.append("sentinel auth-pass \(name) \(password)") }
            if let password = options.sentinelPassword {
                lines.append("requirepass \(password)")
                lines.append("sentinel sentinel-pass \(password)")
            }
            do {
                try (lines.joined(separator: "\n") + "\n").write(toFile: configFile, atomically: true, encoding: .utf8)
            } catch {
                PortAllocator.release([port])
                RedisTestServer.removeDirectory(directory)
                throw TestSupportError(.systemCall, "cannot write \(configFile): \(error)")
            }
            do {
                let process = try await SupervisedProcess.launch(
                    SupervisedProcess.Configuration(
                        executable: "redis-sentinel",
                        arguments: [configFile],
                        workingDirectory: directory,
                        logFile: logFile,
                        readinessTimeout: .seconds(10),
                        installHint: RedisTestServer.installHint,
                        removeWhenOrphaned: directory,
                        isReadyLine: { $0.contains("Sentinel ID is") }
                    )
                )
                return Sentinel(port: port, directory: directory, logFile: logFile, process: process)
            } catch let error as TestSupportError
                where attempt < 5 && error.kind == .exitedBeforeReady
                && error.recentOutput.contains(where: { $0.contains("Address already in use") })
            {
                PortAllocator.release([port])
                attempt += 1
            } catch {
                PortAllocator.release([port])
                RedisTestServer.removeDirectory(directory)
                throw error
            }
        }
    }

    /// Polls every sentinel until it knows the replicas and all the other sentinels (sentinels
    /// find each other through hello messages every 2 s; nothing announces it).
    private func waitUntilSentinelsAgree() async throws {
        for sentinel in sentinels {
            try await pollUntil(
                "sentinel \(sentinel.port) to know the group",
                timeout: options.readinessTimeout,
                interval: .milliseconds(100)
            ) {
                try await withConnection(to: sentinel.address, options: sentinelConnectionOptions(sentinel)) {
                    connection in
                    let fields: [String: String] = try await connection.send(
                        RedisCommand("SENTINEL", "MASTER", options.masterName)
                    ).decode()
                    return Int(fields["num-slaves"] ?? "") == options.replicaCount
                        && Int(fields["num-other-sentinels"] ?? "") == options.sentinelCount - 1
                }
            }
        }
    }

    // MARK: Addresses and options

    public var sentinelAddresses: [RedisServerAddress] { sentinels.map(\.address) }

    /// Client options for the Sentinel topology of this group, with both passwords.
    public func connectionOptions(database: Int = 0) -> RedisConnectionOptions {
        .sentinel(
            masterName: options.masterName,
            sentinels: sentinelAddresses,
            sentinelPassword: options.sentinelPassword,
            password: options.password,
            database: database
        )
    }

    /// Options to talk to one sentinel directly.
    public func sentinelConnectionOptions(_ sentinel: Sentinel) -> RedisConnectionOptions {
        .standalone(host: "127.0.0.1", port: sentinel.port, password: options.sentinelPassword)
    }

    /// The data server listening at `address`, if it is one of the group.
    public func server(at address: RedisServerAddress) -> RedisTestServer? {
        servers.first { address == .tcp(host: $0.host, port: $0.port) }
    }

    // MARK: Failover

    /// The master as the sentinels name it (the first sentinel that answers, from `firstSentinel`).
    public func currentMaster(askingFirst firstSentinel: Int = 0) async throws -> RedisServerAddress {
        var errors: [String] = []
        for offset in 0..<sentinels.count {
            let sentinel = sentinels[(firstSentinel + offset) % sentinels.count]
            guard sentinel.isAnswering else { continue }
            do {
                let address = try await withConnection(
                    to: sentinel.address, options: sentinelConnectionOptions(sentinel)
                ) { try await $0.sentinelMasterAddress(options.masterName) }
                if let address { return address }
                errors.append("\(sentinel.port): unknown master")
            } catch {
                errors.append("\(sentinel.port): \(error)")
            }
        }
        throw TestSupportError(.notRunning, "no sentinel named the master: \(errors.joined(separator: "; "))")
    }

    /// The data server that is the master now.
    public func currentMasterServer() async throws -> RedisTestServer {
        let address = try await currentMaster()
        guard let server = server(at: address) else {
            throw TestSupportError(.notRunning, "the sentinels name \(address), which is not part of the group")
        }
        return server
    }

    /// Kills the current master with SIGKILL (a crash) and returns its address.
    @discardableResult
    public func killMaster() async throws -> RedisServerAddress {
        let server = try await currentMasterServer()
        let address = RedisServerAddress.tcp(host: server.host, port: server.port)
        lastKilledMaster.withLock { $0 = address }
        await server.kill()
        return address
    }

    /// Waits for the sentinels to replace the master last killed with ``killMaster()`` (or, if
    /// none was, the current master); see ``waitForFailover(from:timeout:)``.
    public func waitForFailover(timeout: Duration = .seconds(60)) async throws -> RedisServerAddress {
        let old: RedisServerAddress
        if let killed = lastKilledMaster.withLock({ $0 }) {
            old = killed
        } else {
            old = try await currentMaster()
        }
        return try await waitForFailover(from: old, timeout: timeout)
    }

    /// Waits for the sentinels to replace `oldMaster`: subscribes to `+switch-master` on a
    /// sentinel, and returns the new master's address when the event for this group arrives
    /// (or at once if, once subscribed, that sentinel already names another master).
    public func waitForFailover(
        from oldMaster: RedisServerAddress,
        timeout: Duration = .seconds(60)
    ) async throws -> RedisServerAddress {
        guard let index = sentinels.firstIndex(where: \.isAnswering) else {
            throw TestSupportError(.notRunning, "no sentinel is running unpaused")
        }
        let sentinel = sentinels[index]
        let client = try RedisClient(options: sentinelConnectionOptions(sentinel))
        do {
            let masterName = options.masterName
            let result = try await withTestDeadline(timeout, "a failover of \(oldMaster)") {
                try await client.withSubscription(channels: ["+switch-master"]) { subscription in
                    for try await event in subscription {
                        switch event {
                        case .ready:
                            if let now = try? await self.currentMaster(askingFirst: index), now != oldMaster {
                                return now
                            }
                        case .message(let message):
                            // "<name> <old-ip> <old-port> <new-ip> <new-port>"
                            let fields = message.payloadString.split(separator: " ")
                            if fields.count == 5, fields[0] == masterName, let port = Int(fields[4]) {
                                let new = RedisServerAddress.tcp(host: String(fields[3]), port: port)
                                if new != oldMaster { return new }
                            }
                        }
                    }
                    throw TestSupportError(.notRunning, "the +switch-master subscription ended")
                }
            }
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    // MARK: Stopping

    /// Stops every sentinel and server (by PID) and removes their directories.
    public func stop() async {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        for sentinel in sentinels { await Self.stop(sentinel) }
        for server in servers { await server.stop() }
    }

    private static func stop(_ sentinel: Sentinel) async {
        await sentinel.process.terminate(gracePeriod: .seconds(5))
        RedisTestServer.removeDirectory(sentinel.directory)
        PortAllocator.release([sentinel.port])
    }
}

/// Starts a Sentinel group, runs `body` with it, and stops it whether `body` returns or throws.
public func withRedisSentinelGroup<T>(
    _ options: RedisSentinelGroup.Options = .init(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisSentinelGroup) async throws -> T
) async throws -> T {
    let group = try await RedisSentinelGroup.start(options)
    do {
        let result = try await body(group)
        await group.stop()
        return result
    } catch {
        await group.stop()
        throw error
    }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
