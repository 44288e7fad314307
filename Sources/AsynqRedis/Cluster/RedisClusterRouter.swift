import Logging
import NIOCore
import NIOSSL
import Synchronization

/// Sends commands to the right node of a Redis Cluster, for one ``RedisClient``.
///
/// - **Slot map**: fetched with `CLUSTER SHARDS` (`CLUSTER SLOTS` when the server does not know
///   it) from a known master, else from a seed node. One ``RedisConnectionPool`` per master.
/// - **Routing**: a command goes to the master of its first key's slot (see
///   `RedisCommand.clusterRouting`); commands without a key go to any master, in turn;
///   `FLUSHDB`, `SCRIPT LOAD`, `KEYS`, `DBSIZE`… go to every master and their replies are combined.
/// - **Redirections**, at most `maxRedirects` per command: `MOVED` patches the slot at once,
///   refreshes the whole map (one refresh at a time, shared by every caller that needs it) and
///   retries on the new owner; `ASK` sends `ASKING` and the command together on the target; a
///   node that cannot be reached (nothing was sent) triggers a refresh and a retry.
/// - **Retries**: `TRYAGAIN` (a multi-key command or script whose keys are split between the two
///   nodes of a slot migration) and `CLUSTERDOWN` are retried with backoff (10 ms doubling to
///   250 ms) for up to `clusterRetryTimeout`; a `TRYAGAIN` from the target of an `ASK` is retried
///   on that target, with `ASKING` again. Nothing ran in either case.
/// - **Pipelines** are split per node and sent concurrently; results come back in the caller's
///   order, and redirected commands are resent per command.
/// - **Transactions** must have all their keys in one slot.
final class RedisClusterRouter: Sendable {
    let seeds: [RedisServerAddress]
    let options: RedisConnectionOptions
    let tlsContext: NIOSSLContext?
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    let maxRedirects: Int

    private struct State {
        var topology: RedisClusterTopology?
        /// Slot -> index in `owners`, -1 when no node serves it.
        var slotOwner = [Int32](repeating: -1, count: RedisClusterHashSlot.count)
        var owners: [RedisServerAddress] = []
        var pools: [RedisServerAddress: RedisConnectionPool] = [:]
        var closed = false
        var refreshing = false
        var refreshWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID: UInt64 = 0
        var lastRefreshStart: ContinuousClock.Instant?
        var lastRefreshError: RedisClientError?
        var nextAnyNode = 0
        var subscriptionFailures = 0
        var counts = RedisClusterRedirectionCounts()
    }

    private let state = Mutex(State())
    private let clock = ContinuousClock()

    init(
        seeds: [RedisServerAddress],
        options: RedisConnectionOptions,
        tlsContext: NIOSSLContext?,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) throws(RedisClientError) {
        guard !seeds.isEmpty else {
            throw RedisClientError(.invalidConfiguration, "the cluster topology needs at least one node address")
        }
        if options.database != 0 {
            throw RedisClientError(.invalidConfiguration, "Redis Cluster has only database 0 (got \(options.database))")
        }
        self.seeds = seeds
        self.options = options
        self.tlsContext = tlsContext
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.maxRedirects = max(1, options.maxRedirects)
    }

    // MARK: Slot map

    /// The current slot map, fetched first if there is none yet (or `refresh`).
    func topology(refresh: Bool) async throws -> RedisClusterTopology {
        if refresh {
            try await self.refresh(notStartedSince: clock.now)
        } else {
            try await ensureTopology()
        }
        if let topology = state.withLock({ $0.topology }) { return topology }
        throw state.withLock { $0.lastRefreshError }
            ?? RedisClientError(.connectionFailed, "no cluster slot map could be fetched")
    }

    private func ensureTopology() async throws {
        if state.withLock({ $0.topology != nil }) { return }
        try await refresh(notStartedSince: nil)
    }

    /// Fetches the slot map unless a fetch started at or after `instant` (nil: unless one was
    /// ever made); callers arriving during a fetch wait for it instead of starting another.
    private func refresh(notStartedSince instant: ContinuousClock.Instant?) async throws {
        enum Decision {
            case skip
            case wait(UInt64)
            case fetch
        }
        let now = clock.now
        let decision: Decision = try state.withLock { state in
            if state.closed { throw RedisClientError(.poolClosed, "the Redis client was closed") }
            if let last = state.lastRefreshStart {
                if let instant, last >= instant, !state.refreshing { return .skip }
                if instant == nil, state.topology != nil { return .skip }
            }
            if state.refreshing {
                state.nextWaiterID += 1
                return .wait(state.nextWaiterID)
            }
            state.refreshing = true
            state.lastRefreshStart = now
            return .fetch
        }
        switch decision {
        case .skip:
            return
        case .wait(let id):
            await waitForRefresh(id: id)
            if state.withLock({ $0.topology == nil }), let error = state.withLock({ $0.lastRefreshError }) {
                throw error
            }
        case .fetch:
            let result: Result<RedisClusterTopology, RedisClientError>
            do {
                result = .success(try await fetchTopology())
            } catch let error as RedisClientError {
                result = .failure(error)
            } catch {
                result = .failure(RedisClientError(.connectionFailed, "cluster slot map: \(error)"))
            }
            let (waiters, stalePools) = state.withLock { state in
                state.refreshing = false
                let waiters = Array(state.refreshWaiters.values)
                state.refreshWaiters.removeAll()
                switch result {
                case .success(let topology):
                    state.lastRefreshError = nil
                    return (waiters, Self.apply(topology, to: &state))
                case .failure(let error):
                    state.lastRefreshError = error
                    return (waiters, [])
                }
            }
            for waiter in waiters { waiter.resume() }
            for pool in stalePools { await pool.close() }
            if case .failure(let error) = result { throw error }
        }
    }

    private func waitForRefresh(id: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if !state.refreshing || Task.isCancelled { return true }
                    state.refreshWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.refreshWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Installs a new slot map; returns the pools of nodes that no longer serve slots.
    private static func apply(_ topology: RedisClusterTopology, to state: inout State) -> [RedisConnectionPool] {
        state.topology = topology
        state.owners = topology.shards.map(\.master.address)
        state.slotOwner = [Int32](repeating: -1, count: RedisClusterHashSlot.count)
        for (index, shard) in topology.shards.enumerated() {
            for range in shard.slots where range.lowerBound >= 0 && range.upperBound < RedisClusterHashSlot.count {
                for slot in range { state.slotOwner[slot] = Int32(index) }
            }
        }
        let serving = Set(state.owners)
        var stale: [RedisConnectionPool] = []
        for (address, pool) in state.pools where !serving.contains(address) {
            stale.append(pool)
            state.pools[address] = nil
        }
        return stale
    }

    /// Asks the known masters, then the seeds, for the slot map; the first complete answer wins.
    private func fetchTopology() async throws -> RedisClusterTopology {
        let known = state.withLock { $0.owners }
        var candidates: [RedisServerAddress] = []
        for address in known.shuffled() + seeds where !candidates.contains(address) {
            candidates.append(address)
        }
        var failures: [String] = []
        var partial: RedisClusterTopology?
        for address in candidates {
            do {
                let topology = try await fetchTopology(from: address)
                if topology.coveredSlotCount == RedisClusterHashSlot.count { return topology }
                failures.append("\(address): serves \(topology.coveredSlotCount) slots")
                if topology.coveredSlotCount > partial?.coveredSlotCount ?? 0 { partial = topology }
            } catch let error as RedisClientError {
                if error.code == .cancelled { throw error }
                failures.append("\(address): \(error.message)")
            }
        }
        if let partial { return partial }
        throw RedisClientError(
            .connectionFailed,
            "no cluster node gave a slot map: \(failures.joined(separator: "; "))"
        )
    }

    private func fetchTopology(from address: RedisServerAddress) async throws -> RedisClusterTopology {
        let connection = try await RedisConnection.connect(
            to: address,
            options: options,
            tlsContext: tlsContext,
            eventLoop: eventLoopGroup.any(),
            logger: logger
        )
        do {
            let topology: RedisClusterTopology
            do {
                let reply = try await connection.send(RedisCommand("CLUSTER", "SHARDS"))
                topology = try RedisClusterTopology.parse(shards: reply, queried: address, tls: options.tls != nil)
            } catch let error as RedisClientError
                where error.code == .serverError && error.message.lowercased().contains("unknown subcommand")
            {
                let reply = try await connection.send(RedisCommand("CLUSTER", "SLOTS"))
                topology = try RedisClusterTopology.parse(slots: reply, queried: address)
            }
            await connection.close()
            return topology
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Points one slot at a node at once (after `MOVED`), before the full refresh.
    private func patch(slot: Int, to address: RedisServerAddress) {
        guard (0..<RedisClusterHashSlot.count).contains(slot) else { return }
        state.withLock { state in
            if let index = state.owners.firstIndex(of: address) {
                state.slotOwner[slot] = Int32(index)
            } else {
                state.owners.append(address)
                state.slotOwner[slot] = Int32(state.owners.count - 1)
            }
        }
    }

    // MARK: Nodes and pools

    /// The master for a routed command (a served slot, or any master).
    private func address(for routing: ClusterRouting) async throws -> RedisServerAddress {
        try await ensureTopology()
        if case .slot(let slot) = routing {
            if let owner = owner(ofSlot: slot) { return owner }
            // Not served in our map: the map may be old. The node will say CLUSTERDOWN if not.
            try await refresh(notStartedSince: clock.now)
            if let owner = owner(ofSlot: slot) { return owner }
        }
        return try anyMaster()
    }

    private func owner(ofSlot slot: Int) -> RedisServerAddress? {
        state.withLock { state in
            let index = Int(state.slotOwner[slot])
            return index >= 0 && index < state.owners.count ? state.owners[index] : nil
        }
    }

    private func anyMaster() throws(RedisClientError) -> RedisServerAddress {
        try state.withLock { state throws(RedisClientError) in
            let masters = state.topology?.masters.map(\.address) ?? []
            let candidates = masters.isEmpty ? seeds : masters
            guard !candidates.isEmpty else { throw RedisClientError(.connectionFailed, "no cluster node known") }
            state.nextAnyNode = (state.nextAnyNode + 1) % candidates.count
            return candidates[state.nextAnyNode]
        }
    }

    /// The pool of a node, created on first use.
    func pool(for address: RedisServerAddress) throws(RedisClientError) -> RedisConnectionPool {
        try state.withLock { state throws(RedisClientError) in
            if state.closed { throw RedisClientError(.poolClosed, "the Redis client was closed") }
            if let pool = state.pools[address] { return pool }
            var nodeOptions = options
            nodeOptions.topology = .standalone(address)
            // A node that cannot be reached is retried by the router after refreshing the slot
            // map (its replica may have been promoted): keep the pool's own backoff short.
            nodeOptions.reconnectBackoff.maximum = min(options.reconnectBackoff.maximum, .milliseconds(500))
            let pool = RedisConnectionPool(
                options: nodeOptions,
                tlsContext: tlsContext,
                eventLoopGroup: eventLoopGroup,
                logger: logger,
                addressProvider: { address }
            )
            state.pools[address] = pool
            return pool
        }
    }

    /// The pool of the master serving `key` (or any master when `key` is nil).
    func pool(forKey key: String?) async throws -> RedisConnectionPool {
        let routing: ClusterRouting = key.map { .slot(RedisClusterHashSlot.slot(forKey: $0)) } ?? .anyNode
        return try pool(for: try await address(for: routing))
    }

    // MARK: Redirections

    private enum Redirect {
        case moved(slot: Int, to: RedisServerAddress)
        case ask(to: RedisServerAddress)
        /// Retry after a pause (`TRYAGAIN`, `CLUSTERDOWN`): the cluster is changing. With
        /// `refresh`, the slot map is fetched again first (`CLUSTERDOWN`: a failover).
        case later(refresh: Bool)
        /// The node could not be reached and the command was not sent: refresh and retry.
        case unreachable

        var isLater: Bool {
            if case .later = self { return true }
            return false
        }
    }

    /// How many redirections one command has followed, and how long it has been retried after
    /// `TRYAGAIN`/`CLUSTERDOWN`: the two limits of `maxRedirects` and `clusterRetryTimeout`.
    private struct RetryBudget {
        let maxRedirects: Int
        let timeout: Duration
        private(set) var redirections = 0
        private(set) var laterRetries = 0
        private var laterDeadline: ContinuousClock.Instant?

        init(maxRedirects: Int, timeout: Duration) {
            self.maxRedirects = maxRedirects
            self.timeout = timeout
        }

        /// Counts one retry (after `TRYAGAIN`/`CLUSTERDOWN` when `later`, else after a
        /// redirection) and says whether it may be made.
        mutating func allowsRetry(later: Bool, now: ContinuousClock.Instant) -> Bool {
            if later {
                laterRetries += 1
                let deadline = laterDeadline ?? now + timeout
                laterDeadline = deadline
                return now < deadline
            }
            redirections += 1
            return redirections <= maxRedirects
        }

        /// The pause before the next retry after `TRYAGAIN`/`CLUSTERDOWN`: 10 ms doubling to 250 ms.
        var laterPause: Duration {
            let exponent = min(max(laterRetries - 1, 0), 5)
            return min(.milliseconds(10 * (1 << exponent)), .milliseconds(250))
        }
    }

    /// How long `TRYAGAIN`/`CLUSTERDOWN` are retried for the current task.
    private var retryTimeout: Duration {
        RedisClient.clusterRetryTimeoutOverride ?? options.clusterRetryTimeout
    }

    private func redirect(for error: RedisClientError, from address: RedisServerAddress) -> Redirect? {
        let redirect = classify(error, from: address)
        if let redirect {
            state.withLock { state in
                switch redirect {
                case .moved: state.counts.moved += 1
                case .ask: state.counts.ask += 1
                case .later(refresh: false): state.counts.tryAgain += 1
                case .later(refresh: true): state.counts.clusterDown += 1
                case .unreachable: state.counts.unreachable += 1
                }
            }
        }
        return redirect
    }

    /// Redirections, retries and failures since the client was created.
    var redirectionCounts: RedisClusterRedirectionCounts { state.withLock { $0.counts } }

    private func classify(_ error: RedisClientError, from address: RedisServerAddress) -> Redirect? {
        if error.wasNotSent || error.code == .connectionFailed { return .unreachable }
        if error.code == .poolClosed {
            // The node's pool was dropped by a map refresh while this command waited for it.
            return state.withLock { $0.closed } ? nil : .unreachable
        }
        guard let prefix = error.serverErrorPrefix else { return nil }
        switch prefix {
        case "MOVED", "ASK":
            // "MOVED 3999 127.0.0.1:6381"
            let parts = error.message.split(separator: " ")
            guard parts.count >= 3, let slot = Int(parts[1]) else { return nil }
            let endpoint = String(parts[2])
            let target: RedisServerAddress
            if endpoint.hasPrefix(":"), let host = address.host, let port = Int(endpoint.dropFirst()) {
                target = .tcp(host: host, port: port)  // unknown endpoint: same host as the node asked
            } else if let parsed = try? RedisServerAddress(parsing: endpoint) {
                target = parsed
            } else {
                return nil
            }
            return prefix == "MOVED" ? .moved(slot: slot, to: target) : .ask(to: target)
        case "TRYAGAIN":
            return .later(refresh: false)
        case "CLUSTERDOWN":
            return .later(refresh: true)
        default:
            return nil
        }
    }

    /// Acts on a redirection before the retry: patch and refresh, or pause.
    private func prepareRetry(
        after redirect: Redirect, issuedAt: ContinuousClock.Instant, budget: RetryBudget
    ) async throws {
        switch redirect {
        case .moved(let slot, let address):
            patch(slot: slot, to: address)
            try? await refresh(notStartedSince: issuedAt)
        case .ask:
            break
        case .later(let refresh):
            try await pause(budget.laterPause)
            if refresh { try? await self.refresh(notStartedSince: issuedAt) }
        case .unreachable:
            try? await refresh(notStartedSince: issuedAt)
        }
    }

    private func pause(_ duration: Duration) async throws {
        do {
            try await Task.sleep(for: duration)
        } catch {
            throw RedisClientError(.cancelled, "the request was cancelled")
        }
    }

    /// Where to send a command again after `redirect`: the `ASK` target, or (for `TRYAGAIN` after
    /// an `ASK`) the same target again, since the slot is still being imported there; nil for
    /// the slot's owner in the map.
    private static func askTarget(after redirect: Redirect, previous: RedisServerAddress?) -> RedisServerAddress? {
        switch redirect {
        case .ask(let target): target
        case .later: previous
        case .moved, .unreachable: nil
        }
    }

    // MARK: Commands

    func send(_ command: RedisCommand) async throws -> RESPToken {
        let routing = command.clusterRouting
        if case .allMasters(let combination) = routing {
            return try await broadcast(command, combination: combination)
        }
        var askTarget: RedisServerAddress?
        var budget = RetryBudget(maxRedirects: maxRedirects, timeout: retryTimeout)
        while true {
            let asking = askTarget != nil
            let address: RedisServerAddress
            if let askTarget {
                address = askTarget
            } else {
                address = try await self.address(for: routing)
            }
            let issued = clock.now
            do {
                return try await execute(command, on: try pool(for: address), asking: asking)
            } catch let error as RedisClientError {
                guard let redirect = redirect(for: error, from: address),
                    budget.allowsRetry(later: redirect.isLater, now: clock.now)
                else { throw error }
                askTarget = Self.askTarget(after: redirect, previous: askTarget)
                try await prepareRetry(after: redirect, issuedAt: issued, budget: budget)
            }
        }
    }

    private func execute(_ command: RedisCommand, on pool: RedisConnectionPool, asking: Bool) async throws -> RESPToken
    {
        if command.blockingTimeout != nil {
            let connection = try await pool.dedicatedConnection()
            do {
                let reply: RESPToken
                if asking {
                    reply = try await connection.pipeline([RedisCommand("ASKING"), command])[1].get()
                } else {
                    reply = try await connection.send(command)
                }
                await pool.release(connection, reusable: true)
                return reply
            } catch {
                let reusable = (error as? RedisClientError)?.code == .serverError
                await pool.release(connection, reusable: reusable)
                throw error
            }
        }
        let connection = try await pool.sharedConnection()
        if asking {
            // Written together on one connection: ASKING applies to the command right after it.
            return try await connection.pipeline([RedisCommand("ASKING"), command])[1].get()
        }
        return try await connection.send(command)
    }

    /// Sends a keyless command to every master and combines the replies.
    private func broadcast(_ command: RedisCommand, combination: ClusterReplyCombination) async throws -> RESPToken {
        let masters = try await topology(refresh: false).masters.map(\.address)
        let replies = try await withThrowingTaskGroup(of: (Int, RESPToken).self) { group in
            for (index, address) in masters.enumerated() {
                let pool = try pool(for: address)
                group.addTask { (index, try await pool.sharedConnection().send(command)) }
            }
            var replies = [RESPToken?](repeating: nil, count: masters.count)
            for try await (index, reply) in group { replies[index] = reply }
            return replies.compactMap { $0 }
        }
        guard let first = replies.first else {
            throw RedisClientError(.connectionFailed, "the cluster has no master serving slots")
        }
        switch combination {
        case .first:
            return first
        case .sum:
            var total = 0
            for reply in replies {
                guard let value = reply.int else { throw reply.unexpected("an integer") }
                total += value
            }
            var buffer = ByteBuffer()
            buffer.writeString(":\(total)\r\n")
            return RESPToken(validated: buffer)
        case .concatenate:
            var elements: [RESPToken] = []
            for reply in replies {
                guard let array = reply.array else { throw reply.unexpected("an array") }
                elements += array
            }
            var buffer = ByteBuffer()
            buffer.writeString("*\(elements.count)\r\n")
            for element in elements { buffer.writeImmutableBuffer(element.base) }
            return RESPToken(validated: buffer)
        }
    }

    // MARK: Pipelines

    func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>] {
        var results = [Result<RESPToken, RedisClientError>?](repeating: nil, count: commands.count)
        // Commands for every master split the pipeline, so that what comes before them runs before.
        var segment: [Int] = []
        for (index, command) in commands.enumerated() {
            if case .allMasters(let combination) = command.clusterRouting {
                try await routedPipeline(commands, indices: segment, into: &results)
                segment.removeAll()
                do {
                    results[index] = .success(try await broadcast(command, combination: combination))
                } catch let error as RedisClientError where error.code == .serverError {
                    results[index] = .failure(error)
                }
            } else {
                segment.append(index)
            }
        }
        try await routedPipeline(commands, indices: segment, into: &results)
        return results.map { $0 ?? .failure(RedisClientError(.connectionClosed, "no reply")) }
    }

    private struct PipelineEntry: Sendable {
        let index: Int
        var askTarget: RedisServerAddress?
    }

    /// Sends `commands[indices]` grouped by node, concurrently, and resends redirected ones.
    private func routedPipeline(
        _ commands: [RedisCommand],
        indices: [Int],
        into results: inout [Result<RESPToken, RedisClientError>?]
    ) async throws {
        var pending = indices.map { PipelineEntry(index: $0, askTarget: nil) }
        var lastErrors: [Int: RedisClientError] = [:]
        var budget = RetryBudget(maxRedirects: maxRedirects, timeout: retryTimeout)
        while !pending.isEmpty {
            // Group by node, keeping the callers' order within each node.
            var order: [RedisServerAddress] = []
            var groups: [RedisServerAddress: [PipelineEntry]] = [:]
            for entry in pending {
                let address: RedisServerAddress
                if let askTarget = entry.askTarget {
                    address = askTarget
                } else {
                    address = try await self.address(for: commands[entry.index].clusterRouting)
                }
                if groups[address] == nil { order.append(address) }
                groups[address, default: []].append(entry)
            }
            pending.removeAll()
            let issued = clock.now
            var redirects: [Redirect] = []
            let outcomes = try await withThrowingTaskGroup(
                of: (RedisServerAddress, Result<[Result<RESPToken, RedisClientError>], RedisClientError>).self
            ) { group in
                for address in order {
                    let entries = groups[address] ?? []
                    let pool = try pool(for: address)
                    var batch: [RedisCommand] = []
                    for entry in entries {
                        if entry.askTarget != nil { batch.append(RedisCommand("ASKING")) }
                        batch.append(commands[entry.index])
                    }
                    group.addTask {
                        do {
                            return (address, .success(try await pool.sharedConnection().pipeline(batch)))
                        } catch let error as RedisClientError {
                            if error.code == .cancelled { throw error }
                            return (address, .failure(error))
                        }
                    }
                }
                var outcomes: [RedisServerAddress: Result<[Result<RESPToken, RedisClientError>], RedisClientError>] =
                    [:]
                for try await (address, outcome) in group { outcomes[address] = outcome }
                return outcomes
            }
            for address in order {
                let entries = groups[address] ?? []
                switch outcomes[address] {
                case .failure(let error):
                    if let redirect = redirect(for: error, from: address) {
                        redirects.append(redirect)
                        for entry in entries {
                            lastErrors[entry.index] = error
                            pending.append(PipelineEntry(index: entry.index, askTarget: nil))
                        }
                    } else {
                        for entry in entries { results[entry.index] = .failure(error) }
                    }
                case .success(let replies):
                    var position = 0
                    for entry in entries {
                        if entry.askTarget != nil { position += 1 }  // the ASKING reply
                        let reply =
                            position < replies.count
                            ? replies[position] : .failure(RedisClientError(.connectionClosed, "no reply"))
                        position += 1
                        if case .failure(let error) = reply, let redirect = redirect(for: error, from: address) {
                            redirects.append(redirect)
                            lastErrors[entry.index] = error
                            if case .moved(let slot, let target) = redirect { patch(slot: slot, to: target) }
                            let askTarget = Self.askTarget(after: redirect, previous: entry.askTarget)
                            pending.append(PipelineEntry(index: entry.index, askTarget: askTarget))
                        } else {
                            results[entry.index] = reply
                        }
                    }
                case nil:
                    for entry in entries { pending.append(entry) }
                }
            }
            if pending.isEmpty { break }
            pending.sort { $0.index < $1.index }
            // One retry of the budget, one refresh and at most one pause per round, whatever
            // the number of redirections.
            let now = clock.now
            let later = redirects.contains { $0.isLater }
            if later && !budget.allowsRetry(later: true, now: now) { break }
            if redirects.contains(where: { !$0.isLater }) && !budget.allowsRetry(later: false, now: now) { break }
            if later { try await pause(budget.laterPause) }
            let needsRefresh = redirects.contains { redirect in
                switch redirect {
                case .ask, .later(refresh: false): false
                case .moved, .unreachable, .later(refresh: true): true
                }
            }
            if needsRefresh { try? await refresh(notStartedSince: issued) }
        }
        for entry in pending {
            results[entry.index] = .failure(
                lastErrors[entry.index] ?? RedisClientError(.connectionFailed, "too many cluster redirections")
            )
        }
    }

    // MARK: Transactions

    func transaction(_ commands: [RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>] {
        var slots: Set<Int> = []
        for command in commands {
            switch command.clusterRouting {
            case .slot(let slot): slots.insert(slot)
            case .anyNode: break
            case .allMasters:
                throw RedisClientError(
                    .crossSlot,
                    "\(command.name) runs on every master and cannot be part of a cluster transaction"
                )
            }
        }
        if slots.count > 1 {
            throw RedisClientError(
                .crossSlot,
                "a transaction in Redis Cluster needs all its keys in one hash slot; these keys are in slots "
                    + slots.sorted().map(String.init).joined(separator: ", ")
                    + " (give them a common {hash tag})"
            )
        }
        let routing: ClusterRouting = slots.first.map { .slot($0) } ?? .anyNode
        var askTarget: RedisServerAddress?
        var budget = RetryBudget(maxRedirects: maxRedirects, timeout: retryTimeout)
        while true {
            let asking = askTarget != nil
            let address: RedisServerAddress
            if let askTarget {
                address = askTarget
            } else {
                address = try await self.address(for: routing)
            }
            var batch = asking ? [RedisCommand("ASKING")] : []
            batch += [RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")]
            let issued = clock.now
            let results: [Result<RESPToken, RedisClientError>]
            do {
                results = try await pool(for: address).sharedConnection().pipeline(batch)
            } catch let error as RedisClientError {
                guard let redirect = redirect(for: error, from: address), case .unreachable = redirect,
                    budget.allowsRetry(later: false, now: clock.now)
                else {
                    throw error
                }
                askTarget = nil
                try await prepareRetry(after: redirect, issuedAt: issued, budget: budget)
                continue
            }
            let transaction = results.dropFirst(asking ? 1 : 0)
            // A redirection of a queued command, or of EXEC itself (the keys are checked again
            // then), aborts the transaction: nothing ran.
            let redirected = transaction.dropFirst().lazy.compactMap {
                result -> (Redirect, RedisClientError)? in
                guard case .failure(let error) = result, let redirect = self.redirect(for: error, from: address)
                else { return nil }
                return (redirect, error)
            }.first
            if let (redirect, error) = redirected {
                guard budget.allowsRetry(later: redirect.isLater, now: clock.now) else { throw error }
                askTarget = Self.askTarget(after: redirect, previous: askTarget)
                try await prepareRetry(after: redirect, issuedAt: issued, budget: budget)
                continue
            }
            return try RedisClient.transactionResults(Array(transaction))
        }
    }

    // MARK: Keys on every master

    /// Every key matching `match` on every master, with `SCAN`.
    func scanKeys(match: String?, count: Int, type: String?) async throws -> [String] {
        var keys: [String] = []
        for master in try await topology(refresh: false).masters {
            let connection = try await pool(for: master.address).sharedConnection()
            keys += try await connection.scanKeys(match: match, count: count, type: type)
        }
        return keys
    }

    // MARK: Subscriptions

    /// A connection for a subscription, to any master (Redis Cluster broadcasts `PUBLISH`).
    /// Waits with backoff after failures so that the resubscription loop cannot spin.
    func openSubscriptionConnection() async throws -> RedisConnection {
        let failures = state.withLock { $0.subscriptionFailures }
        if failures > 0 {
            let delay = RedisConnectionPool.backoff(
                attempt: failures,
                initial: options.reconnectBackoff.initial,
                maximum: options.reconnectBackoff.maximum
            )
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw RedisClientError(.cancelled, "the subscription ended")
            }
        }
        do {
            let connection = try await pool(forKey: nil).openConnection()
            state.withLock { $0.subscriptionFailures = 0 }
            return connection
        } catch {
            state.withLock { $0.subscriptionFailures += 1 }
            try? await refresh(notStartedSince: clock.now)
            throw error
        }
    }

    // MARK: Shutdown

    func close() async {
        let (pools, waiters) = state.withLock { state in
            state.closed = true
            let pools = Array(state.pools.values)
            state.pools.removeAll()
            let waiters = Array(state.refreshWaiters.values)
            state.refreshWaiters.removeAll()
            return (pools, waiters)
        }
        for waiter in waiters { waiter.resume() }
        for pool in pools { await pool.close() }
    }
}
