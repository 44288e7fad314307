import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Finds and follows the master of a Sentinel-monitored group, for one ``RedisClient``.
///
/// - **Resolution**: the sentinels are asked in turn (`SENTINEL GET-MASTER-ADDR-BY-NAME`,
///   authenticating with the sentinel credentials) until one names the master; the sentinel that
///   answered is asked first next time. The address is cached until it fails.
/// - **Verification**: every connection the pool opens to the master is checked with `ROLE`; a
///   server that is not (or no longer) a master is refused and the sentinels are asked again.
///   (A user whose ACL forbids `ROLE` skips the check.)
/// - **Following**: a watcher subscribes to `+switch-master` on one sentinel (any other one
///   when it goes away). On a switch of this master, the cached address changes and every pool
///   connection to another server is closed, so the next command connects to the new master;
///   callers waiting out the reconnection backoff are woken at once. After every
///   (re)subscription the sentinels are asked again, in case a switch happened while the watcher
///   was disconnected.
/// - **Errors**: `READONLY` replies (a demoted master that is still up) make ``RedisClient``
///   call ``masterRefused(at:)`` and retry once.
///
/// The watcher is the one unstructured task of the client: a client is an object without an
/// enclosing scope to run it in. It starts with the first connection and is cancelled and awaited
/// by ``close()`` (called by ``RedisClient/close()``), so it ends with the client.
final class RedisSentinelMonitor: Sendable {
    let masterName: String
    let sentinels: [RedisServerAddress]
    /// Options for the master and its replicas.
    let options: RedisConnectionOptions
    /// Options for the sentinels: their credentials, database 0, no client name.
    let sentinelOptions: RedisConnectionOptions
    let tlsContext: NIOSSLContext?
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger

    private struct State {
        var master: RedisServerAddress?
        /// The sentinel to ask first (the last one that answered).
        var preferredSentinel = 0
        var watcher: Task<Void, Never>?
        var watcherFailures = 0
        var pool: RedisConnectionPool?
        var closed = false
    }

    private let state = Mutex(State())

    init(
        masterName: String,
        sentinels: [RedisServerAddress],
        sentinelUsername: String?,
        sentinelPassword: String?,
        options: RedisConnectionOptions,
        tlsContext: NIOSSLContext?,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) throws(RedisClientError) {
        guard !sentinels.isEmpty else {
            throw RedisClientError(.invalidConfiguration, "the Sentinel topology needs at least one sentinel address")
        }
        guard !masterName.isEmpty else {
            throw RedisClientError(.invalidConfiguration, "the Sentinel topology needs a master name")
        }
        self.masterName = masterName
        self.sentinels = sentinels
        self.options = options
        var sentinelOptions = options
        sentinelOptions.topology = .standalone(sentinels[0])
        sentinelOptions.username = sentinelUsername
        sentinelOptions.password = sentinelPassword
        sentinelOptions.database = 0
        sentinelOptions.clientName = nil
        sentinelOptions.commandTimeout = options.commandTimeout.map { min($0, options.connectTimeout) }
        self.sentinelOptions = sentinelOptions
        self.tlsContext = tlsContext
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// The pool whose connections are closed when the master changes (set once, by the client).
    func attach(_ pool: RedisConnectionPool) {
        state.withLock { $0.pool = pool }
    }

    /// The master address currently believed in, if one was resolved.
    var cachedMaster: RedisServerAddress? { state.withLock { $0.master } }

    // MARK: Connecting to the master

    /// Opens a connection to the master (the pool's connector): the cached address, or the one
    /// the sentinels name; verified with `ROLE`. When the cached address fails (unreachable, or
    /// no longer a master), the sentinels are asked again at once, once.
    func connectToMaster(eventLoop: any EventLoop) async throws -> RedisConnection {
        startWatcherIfNeeded()
        var useCache = true
        while true {
            let cached = useCache ? state.withLock { $0.master } : nil
            useCache = false
            let address: RedisServerAddress
            if let cached {
                address = cached
            } else {
                address = try await resolveMaster()
            }
            let connection: RedisConnection
            do {
                connection = try await RedisConnection.connect(
                    to: address,
                    options: options,
                    tlsContext: tlsContext,
                    eventLoop: eventLoop,
                    logger: logger
                )
            } catch let error as RedisClientError where error.code != .authenticationFailed {
                forget(address)
                if cached != nil { continue }  // the cached address may be stale
                throw error
            }
            let role: String
            do {
                role = try await Self.role(of: connection)
            } catch {
                await connection.close()
                forget(address)
                throw error
            }
            if role == "master" { return connection }
            await connection.close()
            forget(address)
            if cached != nil { continue }  // demoted since we cached it
            throw RedisClientError(
                .connectionFailed,
                "\(address), named by the sentinels as master \"\(masterName)\", reports role \(role)"
            )
        }
    }

    /// `ROLE`'s first element; "master" when the user may not run `ROLE` (nothing to verify with).
    private static func role(of connection: RedisConnection) async throws -> String {
        do {
            return try await connection.role().role
        } catch let error as RedisClientError where error.serverErrorPrefix == "NOPERM" {
            return "master"
        }
    }

    /// Forgets `address` as the master if it still is the cached one.
    private func forget(_ address: RedisServerAddress) {
        state.withLock { state in
            if state.master == address { state.master = nil }
        }
    }

    /// The server at `address` refused a write (`READONLY`): it is no longer the master. Forgets
    /// it and closes the pool's connections to it.
    func masterRefused(at address: RedisServerAddress) async {
        logger.info(
            "Redis master refused a write (READONLY); asking the sentinels again",
            metadata: ["redis.address": "\(address)", "redis.sentinel.master": "\(masterName)"]
        )
        forget(address)
        let pool = state.withLock { $0.pool }
        await pool?.closeConnections(reason: "\(address) is no longer the master") { $0.address == address }
    }

    // MARK: Asking the sentinels

    /// Asks the sentinels, in turn, for the master's address; caches and returns it.
    func resolveMaster() async throws -> RedisServerAddress {
        let first = state.withLock { $0.preferredSentinel }
        var failures: [RedisClientError] = []
        for offset in 0..<sentinels.count {
            let index = (first + offset) % sentinels.count
            let sentinel = sentinels[index]
            do {
                let connection = try await connectToSentinel(sentinel)
                let answer: RedisServerAddress?
                do {
                    answer = try await connection.sentinelMasterAddress(masterName)
                } catch {
                    await connection.close()
                    throw error
                }
                await connection.close()
                guard let answer else {
                    failures.append(RedisClientError(.unexpectedReply, "\(sentinel) does not know the master"))
                    continue
                }
                state.withLock { state in
                    state.preferredSentinel = index
                    state.master = answer
                }
                return answer
            } catch let error as RedisClientError {
                if error.code == .cancelled { throw error }
                failures.append(error)
            }
        }
        let summary = failures.map(\.message).joined(separator: "; ")
        let code: RedisClientError.Code =
            failures.allSatisfy { $0.code == .authenticationFailed } ? .authenticationFailed : .connectionFailed
        throw RedisClientError(code, "no sentinel named the master \"\(masterName)\": \(summary)")
    }

    private func connectToSentinel(_ address: RedisServerAddress) async throws -> RedisConnection {
        try await RedisConnection.connect(
            to: address,
            options: sentinelOptions,
            tlsContext: tlsContext,
            eventLoop: eventLoopGroup.any(),
            logger: logger
        )
    }

    // MARK: Watching +switch-master

    private func startWatcherIfNeeded() {
        state.withLock { state in
            guard state.watcher == nil, !state.closed else { return }
            state.watcher = Task { await self.watch() }
        }
    }

    private func watch() async {
        do {
            try await RedisSubscriptionDriver.withSubscription(
                channels: ["+switch-master"],
                patterns: [],
                logger: logger,
                open: { try await self.openWatcherConnection() }
            ) { subscription in
                for try await event in subscription {
                    switch event {
                    case .ready:
                        state.withLock { $0.watcherFailures = 0 }
                        await checkMasterAfterSubscribing()
                    case .message(let message):
                        await handleSwitchMessage(message.payloadString)
                    }
                }
            }
        } catch {
            if !Task.isCancelled {
                logger.warning("Sentinel watcher stopped", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A connection to the next sentinel that answers; waits (capped exponential backoff) after
    /// a round in which none did, so the subscription loop never spins.
    private func openWatcherConnection() async throws -> RedisConnection {
        let (first, failures) = state.withLock { ($0.preferredSentinel, $0.watcherFailures) }
        if failures > 0 {
            let delay = RedisConnectionPool.backoff(
                attempt: failures,
                initial: options.reconnectBackoff.initial,
                maximum: options.reconnectBackoff.maximum
            )
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw RedisClientError(.cancelled, "the Sentinel watcher was stopped")
            }
        }
        for offset in 0..<sentinels.count {
            let sentinel = sentinels[(first + offset) % sentinels.count]
            if let connection = try? await connectToSentinel(sentinel) { return connection }
            try Task.checkCancellation(orThrow: RedisClientError(.cancelled, "the Sentinel watcher was stopped"))
        }
        state.withLock { $0.watcherFailures += 1 }
        throw RedisClientError(.connectionFailed, "no sentinel reachable for the +switch-master subscription")
    }

    /// After (re)subscribing: a switch may have happened while no subscription was listening.
    private func checkMasterAfterSubscribing() async {
        let before = state.withLock { $0.master }
        guard let before else { return }
        guard let now = try? await resolveMaster(), now != before else { return }
        await switchMaster(from: before, to: now)
    }

    /// `+switch-master` payload: `<master-name> <old-ip> <old-port> <new-ip> <new-port>`.
    private func handleSwitchMessage(_ payload: String) async {
        let fields = payload.split(separator: " ")
        guard fields.count == 5, fields[0] == masterName, let oldPort = Int(fields[2]), let newPort = Int(fields[4])
        else { return }
        await switchMaster(
            from: .tcp(host: String(fields[1]), port: oldPort),
            to: .tcp(host: String(fields[3]), port: newPort)
        )
    }

    private func switchMaster(from old: RedisServerAddress, to new: RedisServerAddress) async {
        let pool = state.withLock { state in
            state.master = new
            return state.pool
        }
        logger.notice(
            "Redis master changed",
            metadata: ["redis.sentinel.master": "\(masterName)", "redis.old": "\(old)", "redis.new": "\(new)"]
        )
        await pool?.closeConnections(reason: "the master moved from \(old) to \(new)") { $0.address != new }
    }

    // MARK: Shutdown

    /// Stops the watcher and waits for it.
    func close() async {
        let watcher = state.withLock { state in
            state.closed = true
            state.pool = nil
            let watcher = state.watcher
            state.watcher = nil
            return watcher
        }
        watcher?.cancel()
        await watcher?.value
    }
}
