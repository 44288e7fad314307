import AsynqRedis
package import Foundation
import NIOCore
import SwiftProtobuf

// The scheduler's Redis writes: operations.md §2.20 (entries heartbeat, enqueue history,
// shutdown cleanup) plus our replica coordination (`SchedulerScripts.swift`).

extension RedisBroker {
    /// Go asynq keeps at most this many enqueue events per entry.
    package static let maxSchedulerHistory = 1000

    /// Op 2.20 heartbeat: `ZADD asynq:schedulers <now + ttl> <key>`, then the script that
    /// replaces the entry list (`DEL`, `LPUSH` each entry in the given order, `EXPIRE`).
    package func writeSchedulerEntries(
        schedulerID: String, entries: [Asynq_SchedulerEntry], ttl: Duration, now: Date
    ) async throws(AsynqError) {
        let key = RedisKeys.schedulerEntries(schedulerID)
        let ttlSeconds = max(1, Int(ttl.components.seconds))
        var arguments: [any RESPArgument] = [ttlSeconds]
        do {
            for entry in entries { arguments.append(RESPBytes(try entry.serializedBytes() as [UInt8])) }
        } catch {
            throw AsynqError(.internal, "could not encode scheduler entry: \(error)")
        }
        let expiry = Int(now.addingTimeInterval(ttl.timeInterval).unixSeconds)
        do {
            try await redis.send(RedisCommand("ZADD", RedisKeys.allSchedulers, expiry, key))
        } catch {
            throw Self.map(error)
        }
        try await run(RedisScriptCall(BrokerScripts.writeSchedulerEntries, keys: [key], arguments: arguments))
    }

    /// Op 2.20 shutdown: `ZREM asynq:schedulers <key>`, `DEL <key>`.
    package func clearSchedulerEntries(schedulerID: String) async throws(AsynqError) {
        let key = RedisKeys.schedulerEntries(schedulerID)
        do {
            _ = try await redis.zrem(RedisKeys.allSchedulers, [key])
            _ = try await redis.del(key)
        } catch {
            throw Self.map(error)
        }
    }

    /// Op 2.20 enqueue event: keeps the newest 999 events of the entry and adds this one.
    package func recordSchedulerEnqueueEvent(
        entryID: String, taskID: String, enqueuedAt: Date
    ) async throws(AsynqError) {
        var event = Asynq_SchedulerEnqueueEvent()
        event.taskID = taskID
        event.enqueueTime = Google_Protobuf_Timestamp(date: enqueuedAt)
        let bytes: [UInt8]
        do {
            bytes = try event.serializedBytes()
        } catch {
            throw AsynqError(.internal, "could not encode scheduler enqueue event: \(error)")
        }
        try await run(
            RedisScriptCall(
                BrokerScripts.recordSchedulerEnqueueEvent,
                keys: [RedisKeys.schedulerHistory(entryID)],
                arguments: [Int(enqueuedAt.unixSeconds), RESPBytes(bytes), Self.maxSchedulerHistory]
            )
        )
    }

    /// Op 2.20 shutdown: `DEL asynq:scheduler_history:<entryID>` for each entry.
    package func clearSchedulerHistory(entryIDs: [String]) async throws(AsynqError) {
        do {
            for id in entryIDs { _ = try await redis.del(RedisKeys.schedulerHistory(id)) }
        } catch {
            throw Self.map(error)
        }
    }

    /// Claims occurrence `fireTime` of the entry behind `key` for `schedulerID`; false when
    /// this occurrence (or a later one) was claimed already.
    package func claimSchedulerOccurrence(
        key: String, fireTime: Int64, schedulerID: String, ttlSeconds: Int64
    ) async throws(AsynqError) -> Bool {
        let reply = try await run(
            RedisScriptCall(
                BrokerScripts.claimSchedulerOccurrence,
                keys: [key],
                arguments: [Int(fireTime), schedulerID, Int(ttlSeconds)]
            )
        )
        return reply.int == 1
    }

    /// The newest claimed occurrence of the entry behind `key` (Unix s); nil when there was no
    /// record, in which case `baseline` was recorded.
    package func schedulerLastOccurrence(
        key: String, baseline: Int64, schedulerID: String, ttlSeconds: Int64
    ) async throws(AsynqError) -> Int64? {
        let reply = try await run(
            RedisScriptCall(
                BrokerScripts.schedulerLastOccurrence,
                keys: [key],
                arguments: [Int(baseline), schedulerID, Int(ttlSeconds)]
            )
        )
        if reply.isNull { return nil }
        guard let text = reply.string, let value = Int64(text) else {
            throw AsynqError(.internal, "unexpected reply from the scheduler coordination script: \(reply)")
        }
        return value
    }
}

extension RedisKeys {
    /// Our replica-coordination record of one cron entry (`docs/PERIODIC_TASKS.md`): in the
    /// queue's hash slot, named by a hash of the entry's definition.
    package static func schedulerCoordination(_ queue: String, entryHash: String) -> String {
        "asynq:{\(queue)}:cron:\(entryHash)"
    }
}
