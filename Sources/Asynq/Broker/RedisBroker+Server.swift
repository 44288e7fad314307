package import AsynqRedis
package import Foundation
import NIOCore
import SwiftProtobuf

/// One entry of a batched dequeue, with the task ID so that a task whose message cannot be
/// used can still be dealt with.
package enum DequeuedTask: Sendable {
    /// A task now `active` with a lease.
    case task(TaskMessage)
    /// A task now `active` whose `msg` is not a valid TaskMessage.
    case malformed(id: String, queue: String, rawMessage: Data, error: AsynqError)
    /// An ID that had no task hash (moved to `active` anyway, as Go does).
    case dangling(id: String, queue: String)
}

extension BrokerScripts {
    /// Batched operations.md **2.1** that also returns the task IDs: exactly the effects of
    /// ``dequeueBatch`` (hence of N single ``dequeue`` calls), used by the server's processor.
    ///
    /// - KEYS: 1 `asynq:{q}:pending`, 2 `asynq:{q}:paused`, 3 `asynq:{q}:active`, 4 `asynq:{q}:lease`
    /// - ARGV: 1 lease expiry (Unix s), 2 task-key prefix `asynq:{q}:t:`, 3 `N` (≥ 1)
    /// - Returns: a flat array `id, msg, id, msg, …` in dequeue order; `msg` is `false`
    ///   (nil) for a dangling ID. Empty when paused or nothing is pending.
    package static let dequeueBatchWithIDs = RedisScript(
        #"""
        local out = {}
        if redis.call("EXISTS", KEYS[2]) == 1 then
          return out
        end
        local limit = tonumber(ARGV[3])
        for _ = 1, limit do
          local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
          if not id then
            break
          end
          local taskKey = ARGV[2] .. id
          redis.call("HSET", taskKey, "state", "active")
          redis.call("HDEL", taskKey, "pending_since")
          redis.call("ZADD", KEYS[4], ARGV[1], id)
          out[#out + 1] = id
          out[#out + 1] = redis.call("HGET", taskKey, "msg")
        end
        return out
        """#)
}

/// The fixed keys of one queue, built once (the processor's hot path would otherwise build
/// the same strings for every task). A class, so that passing it around costs one reference
/// count instead of one per string.
package final class QueueKeys: Sendable {
    package let queue: String
    package let pending: String
    package let active: String
    package let lease: String
    package let taskKeyPrefix: String
    package let processedTotal: String
    /// KEYS of the dequeue scripts: pending, paused, active, lease.
    package let dequeueKeys: [String]
    /// `asynq:{q}:notify`.
    package let notifyChannel: String
    /// `SADD asynq:queues q` (op 1.0), sent with every create operation.
    package let registerCommand: RedisCommand

    package init(_ queue: String) {
        self.queue = queue
        pending = RedisKeys.pending(queue)
        active = RedisKeys.active(queue)
        lease = RedisKeys.lease(queue)
        taskKeyPrefix = RedisKeys.taskKeyPrefix(queue)
        processedTotal = RedisKeys.processedTotal(queue)
        dequeueKeys = [pending, RedisKeys.paused(queue), active, lease]
        notifyChannel = RedisKeys.notifyChannel(queue)
        registerCommand = RedisCommand("SADD", RedisKeys.allQueues, queue)
    }

    /// `asynq:{q}:t:<id>`.
    package func taskKey(_ id: String) -> String { taskKeyPrefix + id }
}

/// What a server publishes about itself in its heartbeat (op 2.17).
package struct ServerIdentity: Sendable, Hashable {
    package var host: String
    package var pid: Int
    package var serverID: String

    package var serverKey: String { RedisKeys.serverInfo(host: host, pid: pid, serverID: serverID) }
    package var workersKey: String { RedisKeys.workers(host: host, pid: pid, serverID: serverID) }
}

/// Server-side broker operations: dequeue with IDs, heartbeat state, aggregation.
extension RedisBroker {
    // MARK: Dequeue

    /// Op 2.1 for up to `count` tasks of `queue` in one call, leased until `now + leaseSeconds`
    /// (Unix seconds); see ``DequeuedTask``.
    package func dequeueTasks(
        queue: String,
        count: Int,
        now: Date,
        leaseSeconds: Int64 = RedisBroker.leaseDuration
    ) async throws(AsynqError) -> [DequeuedTask] {
        try await dequeueTasks(keys: QueueKeys(queue), count: count, now: now, leaseSeconds: leaseSeconds)
    }

    /// Op 2.1 for up to `count` tasks in one call, with the queue's keys built beforehand.
    package func dequeueTasks(
        keys: QueueKeys,
        count: Int,
        now: Date,
        leaseSeconds: Int64 = RedisBroker.leaseDuration
    ) async throws(AsynqError) -> [DequeuedTask] {
        dequeuedTasks(
            from: try await run(dequeueCall(keys: keys, count: count, now: now, leaseSeconds: leaseSeconds)), keys: keys
        )
    }

    /// The script call of a batched dequeue (``dequeueTasks(keys:count:now:leaseSeconds:)``), for
    /// sending it in a pipeline; read its reply with ``dequeuedTasks(from:keys:)``.
    package func dequeueCall(
        keys: QueueKeys,
        count: Int,
        now: Date,
        leaseSeconds: Int64 = RedisBroker.leaseDuration
    ) -> RedisScriptCall {
        RedisScriptCall(
            BrokerScripts.dequeueBatchWithIDs,
            keys: keys.dequeueKeys,
            arguments: [Int(now.unixSeconds + leaseSeconds), keys.taskKeyPrefix, count]
        )
    }

    /// The tasks in the reply of a ``dequeueCall(keys:count:now:leaseSeconds:)``.
    package func dequeuedTasks(from reply: RESPToken, keys: QueueKeys) -> [DequeuedTask] {
        guard let elements = reply.array, !elements.isEmpty else { return [] }
        var tasks: [DequeuedTask] = []
        tasks.reserveCapacity(elements.count / 2)
        var index = elements.startIndex
        while index + 1 < elements.endIndex {
            let id = elements[index]
            let message = elements[index + 1]
            index += 2
            guard let bytes = message.byteBuffer else {
                tasks.append(.dangling(id: id.string ?? "", queue: keys.queue))
                continue
            }
            do {
                tasks.append(.task(try TaskMessage.decode(bytes.readableBytesView)))
            } catch {
                tasks.append(
                    .malformed(
                        id: id.string ?? "", queue: keys.queue, rawMessage: Data(bytes.readableBytesView), error: error)
                )
            }
        }
        return tasks
    }

    /// Op 2.6 for an active task whose message cannot be decoded: archives it with its stored
    /// bytes unchanged (no error message can be added to a message that cannot be read).
    package func archiveMalformedCall(queue q: String, id: String, rawMessage: Data, now: Date) -> RedisScriptCall {
        let cutoff = now.unixSeconds - Self.archivedExpirationDays * 86_400
        return RedisScriptCall(
            BrokerScripts.archive,
            keys: [
                RedisKeys.taskKey(q, id), RedisKeys.active(q), RedisKeys.lease(q), RedisKeys.archived(q),
                RedisKeys.processed(q, on: now), RedisKeys.failed(q, on: now), RedisKeys.processedTotal(q),
                RedisKeys.failedTotal(q),
            ],
            arguments: [
                id, RESPBytes(rawMessage), Int(now.unixSeconds), Int(cutoff), Self.maxArchiveSize,
                Int(now.unixSeconds + Self.statsTTL), Self.maxInt64, RedisKeys.taskKeyPrefix(q),
            ]
        )
    }

    // MARK: Server state (2.17, 2.18)

    /// Op 2.17: `ZADD asynq:servers`, `ZADD asynq:workers` (score now + ttl), then the script
    /// writing the ServerInfo and the worker hash, both with the TTL.
    package func writeServerState(
        identity: ServerIdentity,
        info: Asynq_ServerInfo,
        workers: [(taskID: String, info: Asynq_WorkerInfo)],
        ttlSeconds: Int,
        now: Date
    ) async throws(AsynqError) {
        let expiry = Int(now.unixSeconds) + ttlSeconds
        var arguments: [any RESPArgument] = [ttlSeconds]
        do {
            arguments.append(RESPBytes(try info.serializedBytes() as [UInt8]))
            for worker in workers {
                arguments.append(worker.taskID)
                arguments.append(RESPBytes(try worker.info.serializedBytes() as [UInt8]))
            }
        } catch {
            throw AsynqError(.internal, "could not encode server info: \(error)")
        }
        do {
            let results = try await redis.pipeline([
                RedisCommand("ZADD", RedisKeys.allServers, expiry, identity.serverKey),
                RedisCommand("ZADD", RedisKeys.allWorkers, expiry, identity.workersKey),
            ])
            for result in results { _ = try result.get() }
        } catch {
            throw Self.map(error)
        }
        try await run(
            RedisScriptCall(
                BrokerScripts.writeServerState,
                keys: [identity.serverKey, identity.workersKey],
                arguments: arguments
            )
        )
    }

    /// Op 2.18: `ZREM` both zset entries, then delete both keys.
    package func clearServerState(identity: ServerIdentity) async throws(AsynqError) {
        do {
            let results = try await redis.pipeline([
                RedisCommand("ZREM", RedisKeys.allServers, identity.serverKey),
                RedisCommand("ZREM", RedisKeys.allWorkers, identity.workersKey),
            ])
            for result in results { _ = try result.get() }
        } catch {
            throw Self.map(error)
        }
        try await run(
            RedisScriptCall(BrokerScripts.clearServerState, keys: [identity.serverKey, identity.workersKey])
        )
    }

    // MARK: Aggregation (2.12–2.16)

    /// Op 2.16: the group names of a queue.
    package func groupNames(queue: String) async throws(AsynqError) -> [String] {
        do {
            return try await redis.smembers(RedisKeys.groups(queue))
        } catch {
            throw Self.map(error)
        }
    }

    /// Op 2.12: whether a batch of `group` was moved into the aggregation set `setID`.
    package func checkAggregation(
        queue: String,
        group: String,
        setID: String,
        tick: Date,
        gracePeriod: Duration,
        maxDelay: Duration,
        maxSize: Int,
        now: Date
    ) async throws(AsynqError) -> Bool {
        let reply = try await run(
            RedisScriptCall(
                BrokerScripts.checkAggregation,
                keys: [
                    RedisKeys.group(queue, group), RedisKeys.aggregationSet(queue, group, setID),
                    RedisKeys.aggregationSets(queue), RedisKeys.groups(queue),
                ],
                arguments: [
                    maxSize, Int(maxDelay.wholeSeconds), Int(gracePeriod.wholeSeconds),
                    Int(now.unixSeconds + Self.aggregationSetTimeout), Int(tick.unixSeconds), group,
                ]
            )
        )
        return reply.int == 1
    }

    /// Op 2.13: the messages of an aggregation set (undecodable ones skipped) and its deadline.
    package func readAggregationSet(
        queue: String,
        group: String,
        setID: String
    ) async throws(AsynqError) -> (messages: [TaskMessage], deadline: Date) {
        let setKey = RedisKeys.aggregationSet(queue, group, setID)
        let reply = try await run(
            RedisScriptCall(
                BrokerScripts.readAggregationSet,
                keys: [setKey],
                arguments: [RedisKeys.taskKeyPrefix(queue)]
            )
        )
        let messages = (reply.array ?? []).compactMap { element in
            element.byteBuffer.flatMap { try? TaskMessage.decode($0.readableBytesView) }
        }
        let score: Double?
        do {
            score = try await redis.zscore(RedisKeys.aggregationSets(queue), setKey)
        } catch {
            throw Self.map(error)
        }
        guard let score else {
            throw AsynqError(.internal, "aggregation set \(setKey) is not registered")
        }
        return (messages, Date(timeIntervalSince1970: score))
    }

    /// Op 2.14: deletes the set, its member tasks and its registration.
    package func deleteAggregationSet(queue: String, group: String, setID: String) async throws(AsynqError) {
        try await run(
            RedisScriptCall(
                BrokerScripts.deleteAggregationSet,
                keys: [RedisKeys.aggregationSet(queue, group, setID), RedisKeys.aggregationSets(queue)],
                arguments: [RedisKeys.taskKeyPrefix(queue)]
            )
        )
    }

    /// Op 2.15: returns the members of expired aggregation sets to their groups.
    package func reclaimStaleAggregationSets(queue: String, now: Date) async throws(AsynqError) {
        try await run(
            RedisScriptCall(
                BrokerScripts.reclaimStaleAggregationSets,
                keys: [RedisKeys.aggregationSets(queue)],
                arguments: [Int(now.unixSeconds)]
            )
        )
    }

    /// How long an aggregation set may exist before the recoverer returns it to its group.
    package static let aggregationSetTimeout: Int64 = 120
}
