package import AsynqRedis

/// The Lua scripts the broker runs against Redis, one constant per atomic
/// operation of `operations.md` (asynq v0.26 wire behaviour). The scripts are
/// written for this project; they reproduce Go asynq's effects (keys, fields,
/// scores, order of writes, result codes), not its script text.
///
/// Conventions shared by every script (details in `docs/broker-scripts.md`):
///
/// * Every fixed key is passed in `KEYS`, and all `KEYS` of one script share one
///   hash tag — `{<qname>}` for queue scripts, `{<host>:<pid>:<id>}` for the
///   server-state script, or a single key — so every script runs on Redis Cluster.
/// * Keys whose names are only known inside the script (task hashes of IDs read
///   from a list or zset, group zsets named by a hash field or a set member,
///   aggregation-set keys, the unique-lock key stored in a task hash) are built
///   from a prefix passed in `ARGV` (`asynq:{q}:t:`, `asynq:{q}:g:`) or read from
///   Redis. They carry the same `{<qname>}` hash tag, so they hash to the slot
///   of the declared keys; Redis accepts undeclared same-slot keys in scripts.
/// * No per-queue script touches a global key (`asynq:queues`, `asynq:servers`,
///   `asynq:workers`, …); those are written with plain commands.
/// * Optional keys are never passed as empty strings: such operations have one
///   variant per key layout (e.g. ``done`` / ``doneUnique``).
/// * No `#!lua` shebang, so the scripts run on Redis 6.2 and later.
/// * Numbers in `ARGV` are base-10 ASCII; booleans are `1` / `0`.
package enum BrokerScripts {}

extension BrokerScripts {
    /// Every script, by constant name (the tests check that none is missing, and run each of
    /// them on Redis Cluster).
    package static let all: [String: RedisScript] = [
        // Client writes (1.x)
        "enqueue": enqueue,
        "enqueueNotify": enqueueNotify,
        "enqueueUnique": enqueueUnique,
        "enqueueUniqueNotify": enqueueUniqueNotify,
        "schedule": schedule,
        "scheduleUnique": scheduleUnique,
        "addToGroup": addToGroup,
        "addToGroupUnique": addToGroupUnique,
        // Worker (2.x)
        "dequeue": dequeue,
        "dequeueBatch": dequeueBatch,
        "dequeueBatchWithIDs": dequeueBatchWithIDs,
        "done": done,
        "doneUnique": doneUnique,
        "markComplete": markComplete,
        "markCompleteUnique": markCompleteUnique,
        "requeue": requeue,
        "retry": retry,
        "archive": archive,
        "forward": forward,
        "forwardNotify": forwardNotify,
        "listLeaseExpired": listLeaseExpired,
        "deleteExpiredCompleted": deleteExpiredCompleted,
        "checkAggregation": checkAggregation,
        "readAggregationSet": readAggregationSet,
        "deleteAggregationSet": deleteAggregationSet,
        "reclaimStaleAggregationSets": reclaimStaleAggregationSets,
        "writeServerState": writeServerState,
        "clearServerState": clearServerState,
        "writeSchedulerEntries": writeSchedulerEntries,
        "recordSchedulerEnqueueEvent": recordSchedulerEnqueueEvent,
        "claimSchedulerOccurrence": claimSchedulerOccurrence,
        "schedulerLastOccurrence": schedulerLastOccurrence,
        // Inspector reads (3.x)
        "currentStats": currentStats,
        "memoryUsage": memoryUsage,
        "dailyStats": dailyStats,
        "taskInfo": taskInfo,
        "groupStats": groupStats,
        "listTasksInList": listTasksInList,
        "listTasksInZSet": listTasksInZSet,
        "listLiveMembers": listLiveMembers,
        // Inspector writes (4.x)
        "runTask": runTask,
        "runAll": runAll,
        "runAllAggregating": runAllAggregating,
        "archiveTask": archiveTask,
        "archiveAllPending": archiveAllPending,
        "archiveAll": archiveAll,
        "archiveAllAggregating": archiveAllAggregating,
        "deleteTask": deleteTask,
        "deleteAll": deleteAll,
        "deleteAllPending": deleteAllPending,
        "deleteAllAggregating": deleteAllAggregating,
        "updateTaskPayload": updateTaskPayload,
        "removeQueue": removeQueue,
        "removeQueueForce": removeQueueForce,
        // x/rate (5)
        "acquireSemaphoreToken": acquireSemaphoreToken,
    ]
}
