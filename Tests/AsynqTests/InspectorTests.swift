import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import SwiftProtobuf
import Testing

// The inspector against real redis-server processes (one per test): every method's results
// and errors over tasks seeded in every state with the client and the broker's worker
// operations, Go's pagination and error texts, the Redis state Go asynq recorded
// (Tests/Fixtures/compat) read back through the inspector, and a replay of
// 15-inspector-ops.json compared key by key with Go's dumps.

@Suite("Inspector")
struct InspectorTests {
    // MARK: - Queues and statistics

    @Test("queueInfo counts every state, the counters, latency and memory")
    func queueInfoCountsEveryState() async throws {
        try await withHarness { h in
            let before = Date()
            try await h.seedAllStates(queue: "q")
            #expect(try await h.inspector.queues() == ["q"])
            let info = try await h.inspector.queueInfo("q")
            #expect(info.queue == "q")
            #expect(info.pending == 2)
            #expect(info.active == 1)
            #expect(info.scheduled == 1)
            #expect(info.retry == 1)
            #expect(info.archived == 1)
            #expect(info.completed == 1)
            #expect(info.aggregating == 2)
            #expect(info.groups == 1)
            #expect(info.size == 9, "completed tasks count in Size, as in Go's code")
            #expect(info.processed == 3 && info.failed == 2)
            #expect(info.processedTotal == 3 && info.failedTotal == 2)
            #expect(!info.paused)
            #expect(info.memoryUsage > 0)
            #expect(info.latency > .zero && info.latency < .seconds(60))
            #expect(info.timestamp >= before && info.timestamp <= Date())

            try await h.inspector.pause(queue: "q")
            #expect(try await h.inspector.queueInfo("q").paused)
        }
    }

    @Test("latency is zero when the next pending task has no pending_since")
    func latencyWithoutPendingSince() async throws {
        try await withHarness { h in
            try await h.enqueue("s1", .processIn(.seconds(3600)))
            #expect(try await h.inspector.queueInfo("q").latency == .zero, "nothing pending")
            try await h.inspector.runTask(queue: "q", id: "s1")
            let info = try await h.inspector.queueInfo("q")
            #expect(info.pending == 1)
            #expect(info.latency == .zero, "run-task does not write pending_since")
        }
    }

    @Test("memory usage follows the sampling formula")
    func memoryUsageFormula() async throws {
        try await withHarness { h in
            for id in ["m1", "m2", "m3"] { try await h.enqueue(id) }
            var hashes = 0
            for id in ["m1", "m2", "m3"] {
                hashes += try #require(try await h.redis.memoryUsage(RedisKeys.taskKey("q", id)))
            }
            let list = try #require(try await h.redis.memoryUsage(RedisKeys.pending("q")))
            let usage = try await h.inspector.queueInfo("q").memoryUsage
            #expect(abs(Int(usage) - (hashes + list)) <= 1, "average of 3 sampled hashes × 3 + the list itself")
        }
    }

    @Test("queueInfo and history reject unknown queues and blank names")
    func statisticsErrors() async throws {
        try await withHarness { h in
            let missing = await asynqError { _ = try await h.inspector.queueInfo("nope") }
            #expect(missing?.code == .queueNotFound)
            #expect(missing?.message == #"NOT_FOUND: queue "nope" does not exist"#)
            let blank = await asynqError { _ = try await h.inspector.queueInfo("  ") }
            #expect(blank?.code == .invalidArgument)
            #expect(blank?.message == "queue name must contain one or more characters")
            let days = await asynqError { _ = try await h.inspector.history(queue: "nope", days: 0) }
            #expect(days?.code == .invalidState, "the day count is checked before the queue")
            #expect(days?.message == "FAILED_PRECONDITION: the number of days must be positive")
            let historyMissing = await asynqError { _ = try await h.inspector.history(queue: "nope", days: 1) }
            #expect(historyMissing?.code == .queueNotFound)
        }
    }

    @Test("history reads the daily counters, today first")
    func history() async throws {
        try await withHarness { h in
            try await h.enqueue("p1")
            let now = Date()
            var stored: [String: Int] = [:]
            for (offset, processed, failed) in [(0, 5, 2), (1, 7, 0), (3, 9, 4)] {
                let day = now.addingTimeInterval(-Double(offset) * 86_400)
                stored[RedisKeys.processed("q", on: day)] = processed
                stored[RedisKeys.failed("q", on: day)] = failed
            }
            for (key, value) in stored { try await h.redis.set(key, value) }
            let stats = try await h.inspector.history(queue: "q", days: 5)
            #expect(stats.count == 5)
            for (index, day) in stats.enumerated() {
                #expect(day.queue == "q")
                #expect(day.processed == stored[RedisKeys.processed("q", on: day.date)] ?? 0)
                #expect(day.failed == stored[RedisKeys.failed("q", on: day.date)] ?? 0)
                if index > 0 {
                    #expect(abs(stats[index - 1].date.timeIntervalSince(day.date) - 86_400) < 0.001)
                }
            }
            #expect(stats[0].processed == 5 || stats[0].date.timeIntervalSince(now) > 1, "today first")
        }
    }

    @Test("groups lists every group with its size, without a queue check")
    func groups() async throws {
        try await withHarness { h in
            try await h.enqueue("g1", .group("a"))
            try await h.enqueue("g2", .group("a"))
            try await h.enqueue("g3", .group("b"))
            let groups = try await h.inspector.groups(queue: "q").sorted { $0.group < $1.group }
            #expect(groups == [GroupInfo(group: "a", size: 2), GroupInfo(group: "b", size: 1)])
            #expect(try await h.inspector.groups(queue: "unknown").isEmpty)
        }
    }

    // MARK: - Listing

    @Test("listTasks returns each state with Go's order, times, results and orphan flags")
    func listEveryState() async throws {
        try await withHarness { h in
            let seeded = try await h.seedAllStates(queue: "q")
            let now = Date()

            let pending = try await h.inspector.listTasks(queue: "q", state: .pending)
            #expect(pending.map(\.id) == ["p1", "p2"], "next to run first")
            for task in pending {
                #expect(task.state == .pending)
                let next = try #require(task.nextProcessAt)
                #expect(abs(next.timeIntervalSince(now)) < 5)
            }

            var active = try await h.inspector.listTasks(queue: "q", state: .active)
            #expect(active.map(\.id) == ["a1"])
            #expect(active.first?.nextProcessAt == nil)
            #expect(active.first?.isOrphaned == false)
            try await h.redis.zadd(
                RedisKeys.lease("q"), [(score: Double(now.timeIntervalSince1970 - 100), member: "a1")])
            active = try await h.inspector.listTasks(queue: "q", state: .active)
            #expect(active.first?.isOrphaned == true, "lease expired without heartbeat")

            let scheduled = try await h.inspector.listTasks(queue: "q", state: .scheduled)
            #expect(scheduled.map(\.id) == ["s1"])
            #expect(
                scheduled.first?.nextProcessAt
                    == Date(timeIntervalSince1970: seeded.scheduledAt.timeIntervalSince1970.rounded(.down)))

            let retry = try await h.inspector.listTasks(queue: "q", state: .retry)
            #expect(retry.map(\.id) == ["r1"])
            #expect(
                retry.first?.nextProcessAt
                    == Date(timeIntervalSince1970: seeded.retryAt.timeIntervalSince1970.rounded(.down)))
            #expect(retry.first?.lastError == "boom")
            #expect(retry.first?.retried == 1)
            #expect(retry.first?.lastFailedAt != nil)

            let archived = try await h.inspector.listTasks(queue: "q", state: .archived)
            #expect(archived.map(\.id) == ["x1"])
            #expect(archived.first?.nextProcessAt == nil)
            #expect(archived.first?.lastError == "fatal")
            #expect(archived.first?.retried == 0)

            let completed = try await h.inspector.listTasks(queue: "q", state: .completed)
            #expect(completed.map(\.id) == ["c1"])
            #expect(completed.first?.result == Data("done".utf8))
            #expect(completed.first?.completedAt != nil)
            #expect(completed.first?.retention == .seconds(3600))
            #expect(completed.first?.nextProcessAt == nil)

            let aggregating = try await h.inspector.listTasks(queue: "q", state: .aggregating, group: "grp")
            #expect(aggregating.map(\.id) == ["g1", "g2"])
            #expect(aggregating.allSatisfy { $0.group == "grp" && $0.state == .aggregating && $0.nextProcessAt == nil })
            #expect(try await h.inspector.listTasks(queue: "q", state: .aggregating, group: "none").isEmpty)
            let noGroup = await asynqError { _ = try await h.inspector.listTasks(queue: "q", state: .aggregating) }
            #expect(noGroup?.code == .invalidArgument)

            let missing = await asynqError { _ = try await h.inspector.listTasks(queue: "nope", state: .pending) }
            #expect(missing?.code == .queueNotFound)
            #expect(missing?.message == "asynq: queue not found")
            let blank = await asynqError { _ = try await h.inspector.listTasks(queue: "", state: .retry) }
            #expect(blank?.message == "asynq: queue name must contain one or more characters")
        }
    }

    @Test("listing skips undecodable messages")
    func listSkipsBadData() async throws {
        try await withHarness { h in
            try await h.enqueue("p1")
            try await h.enqueue("p2")
            try await h.redis.hset(RedisKeys.taskKey("q", "p1"), field: "msg", value: RESPBytes([0xFF, 0xFF, 0xFF]))
            #expect(try await h.inspector.listTasks(queue: "q", state: .pending).map(\.id) == ["p2"])
        }
    }

    @Test("pagination uses Go's defaults, clamping and edge cases")
    func pagination() async throws {
        try await withHarness { h in
            let now = Date()
            for i in 1...5 {
                try await h.enqueue("p\(i)")
                try await h.enqueue("s\(i)", .processAt(now.addingTimeInterval(Double(i) * 100)))
            }
            func ids(_ state: TaskState, page: Int = 1, size: Int = 30) async throws -> [String] {
                try await h.inspector.listTasks(queue: "q", state: state, page: page, pageSize: size).map(\.id)
            }
            #expect(try await ids(.pending) == ["p1", "p2", "p3", "p4", "p5"])
            #expect(try await ids(.pending, page: 1, size: 2) == ["p1", "p2"])
            #expect(try await ids(.pending, page: 2, size: 2) == ["p3", "p4"])
            #expect(try await ids(.pending, page: 3, size: 2) == ["p5"])
            #expect(try await ids(.pending, page: 4, size: 2) == [])
            #expect(try await ids(.scheduled, page: 2, size: 2) == ["s3", "s4"])
            #expect(try await ids(.pending, page: -3, size: 2) == ["p1", "p2"], "negative page → 1")
            #expect(try await ids(.pending, page: 2, size: 0).count == 5, "page size 0 reads everything, as in Go")
            #expect(try await ids(.scheduled, page: 1, size: -4).count == 5, "negative size → 0")
            #expect(try await ids(.pending, page: 0, size: 2) == ["p4", "p5"], "Go's page 0: the last items")
            #expect(try await ids(.scheduled, page: 0, size: 2) == ["s4", "s5"])
            #expect(try await ids(.pending, page: Int.max, size: Int.max) == [], "no overflow")

            #expect(ListOptions() == ListOptions(page: 1, pageSize: 30))
            #expect(ListOptions(page: -2, pageSize: -7) == ListOptions(page: 1, pageSize: 0))
        }
    }

    @Test("the default page holds 30 tasks")
    func defaultPageSize() async throws {
        try await withHarness { h in
            let tasks = (1...35).map { AsynqTask(type: "bulk", payload: "\($0)", options: [.queue("q")]) }
            let results = try await h.client.enqueueBatch(tasks)
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            #expect(try await h.inspector.listTasks(queue: "q", state: .pending).count == 30)
            #expect(try await h.inspector.listTasks(queue: "q", state: .pending, page: 2).count == 5)
        }
    }

    // MARK: - Single tasks

    @Test("taskInfo reports state, next process time and result")
    func taskInfo() async throws {
        try await withHarness { h in
            let seeded = try await h.seedAllStates(queue: "q")
            let expected: [(String, TaskState)] = [
                ("p1", .pending), ("a1", .active), ("s1", .scheduled), ("r1", .retry), ("x1", .archived),
                ("c1", .completed), ("g1", .aggregating),
            ]
            for (id, state) in expected {
                let info = try await h.inspector.taskInfo(queue: "q", id: id)
                #expect(info.id == id && info.state == state && info.queue == "q" && info.type == "email:deliver")
            }
            let pending = try await h.inspector.taskInfo(queue: "q", id: "p1")
            let next = try #require(pending.nextProcessAt)
            #expect(next.timeIntervalSince1970 == next.timeIntervalSince1970.rounded(.down), "whole seconds")
            #expect(abs(next.timeIntervalSinceNow) < 5)
            #expect(
                try await h.inspector.taskInfo(queue: "q", id: "s1").nextProcessAt?.timeIntervalSince1970
                    == seeded.scheduledAt.timeIntervalSince1970.rounded(.down))
            #expect(
                try await h.inspector.taskInfo(queue: "q", id: "r1").nextProcessAt?.timeIntervalSince1970
                    == seeded.retryAt.timeIntervalSince1970.rounded(.down))
            #expect(try await h.inspector.taskInfo(queue: "q", id: "a1").nextProcessAt == nil)
            #expect(try await h.inspector.taskInfo(queue: "q", id: "c1").result == Data("done".utf8))
            #expect(try await h.inspector.taskInfo(queue: "q", id: "p1").result == nil)
            #expect(try await h.inspector.taskInfo(queue: "q", id: "g1").group == "grp")

            let noTask = await asynqError { _ = try await h.inspector.taskInfo(queue: "q", id: "zzz") }
            #expect(noTask?.code == .taskNotFound)
            #expect(noTask?.message == "asynq: task not found")
            let noQueue = await asynqError { _ = try await h.inspector.taskInfo(queue: "nope", id: "p1") }
            #expect(noQueue?.code == .queueNotFound)
            #expect(noQueue?.message == "asynq: queue not found")
        }
    }

    @Test("runTask moves every non-active, non-pending state to pending")
    func runTask() async throws {
        try await withHarness { h in
            try await h.seedAllStates(queue: "q")
            for id in ["s1", "r1", "x1", "c1", "g1"] {
                try await h.inspector.runTask(queue: "q", id: id)
                let info = try await h.inspector.taskInfo(queue: "q", id: id)
                #expect(info.state == .pending)
                #expect(try await h.redis.hget(RedisKeys.taskKey("q", id), "pending_since") == nil)
                #expect(try await h.redis.lindex(RedisKeys.pending("q"), 0) == id, "pushed on the left")
            }
            #expect(try await h.redis.smembers(RedisKeys.groups("q")) == ["grp"], "g2 is still in the group")
            try await h.inspector.runTask(queue: "q", id: "g2")
            #expect(try await h.redis.smembers(RedisKeys.groups("q")).isEmpty, "an emptied group is removed")
            for key in [
                RedisKeys.scheduled("q"), RedisKeys.retry("q"), RedisKeys.archived("q"), RedisKeys.completed("q"),
            ] {
                #expect(try await h.redis.zcard(key) == 0)
            }

            let pending = await asynqError { try await h.inspector.runTask(queue: "q", id: "p1") }
            #expect(pending?.code == .invalidState)
            #expect(pending?.message == "asynq: FAILED_PRECONDITION: task is already in pending state")
            let active = await asynqError { try await h.inspector.runTask(queue: "q", id: "a1") }
            #expect(active?.message == "asynq: FAILED_PRECONDITION: task is already running")
            let missing = await asynqError { try await h.inspector.runTask(queue: "q", id: "nope") }
            #expect(missing?.code == .taskNotFound)
            let noQueue = await asynqError { try await h.inspector.runTask(queue: "nope", id: "p1") }
            #expect(noQueue?.message == "asynq: queue not found")
        }
    }

    @Test("archiveTask archives without rewriting the message")
    func archiveTask() async throws {
        try await withHarness { h in
            try await h.seedAllStates(queue: "q")
            let before = try await h.redis.hgetBytes(RedisKeys.taskKey("q", "p1"), "msg")
            for id in ["p1", "s1", "r1", "c1", "g1", "g2"] {
                try await h.inspector.archiveTask(queue: "q", id: id)
                #expect(try await h.inspector.taskInfo(queue: "q", id: id).state == .archived)
            }
            #expect(try await h.redis.hgetBytes(RedisKeys.taskKey("q", "p1"), "msg") == before)
            #expect(try await h.redis.hget(RedisKeys.taskKey("q", "p1"), "pending_since") != nil, "kept, as in Go")
            #expect(try await h.redis.zcard(RedisKeys.archived("q")) == 7)
            #expect(try await h.redis.smembers(RedisKeys.groups("q")).isEmpty)
            #expect(try await h.redis.llen(RedisKeys.pending("q")) == 1)

            let again = await asynqError { try await h.inspector.archiveTask(queue: "q", id: "x1") }
            #expect(again?.code == .invalidState)
            #expect(again?.message == "asynq: FAILED_PRECONDITION: task is already archived: id=x1, queue=q")
            let active = await asynqError { try await h.inspector.archiveTask(queue: "q", id: "a1") }
            #expect(
                active?.message
                    == "asynq: FAILED_PRECONDITION: cannot archive task in active state. use CancelProcessing instead."
            )
            let missing = await asynqError { try await h.inspector.archiveTask(queue: "q", id: "nope") }
            #expect(missing?.message == "asynq: task not found")
        }
    }

    @Test("deleteTask deletes non-active tasks and releases their unique locks")
    func deleteTask() async throws {
        try await withHarness { h in
            try await h.seedAllStates(queue: "q")
            try await h.enqueue("u1", .unique(ttl: .seconds(3600)))
            let lock = RedisKeys.unique("q", type: "email:deliver", payload: Data(#"{"id":"u1"}"#.utf8))
            #expect(try await h.redis.get(lock) == "u1")
            for id in ["p1", "s1", "r1", "x1", "c1", "g1", "g2", "u1"] {
                try await h.inspector.deleteTask(queue: "q", id: id)
                #expect(try await h.redis.exists(RedisKeys.taskKey("q", id)) == 0)
            }
            #expect(try await h.redis.exists(lock) == 0, "the lock held by the task is released")
            #expect(try await h.redis.smembers(RedisKeys.groups("q")).isEmpty)
            #expect(try await h.inspector.listTasks(queue: "q", state: .pending).map(\.id) == ["p2"])

            let active = await asynqError { try await h.inspector.deleteTask(queue: "q", id: "a1") }
            #expect(active?.code == .invalidState)
            #expect(
                active?.message
                    == "asynq: FAILED_PRECONDITION: cannot delete task in active state. use CancelProcessing instead."
            )
            let missing = await asynqError { try await h.inspector.deleteTask(queue: "q", id: "p1") }
            #expect(missing?.code == .taskNotFound)
        }
    }

    @Test("updateTaskPayload rewrites only scheduled tasks")
    func updateTaskPayload() async throws {
        try await withHarness { h in
            try await h.enqueue("s1", .processIn(.seconds(600)), .unique(ttl: .seconds(60)), .maxRetry(3))
            try await h.enqueue("p1")
            try await h.inspector.updateTaskPayload(queue: "q", id: "s1", payload: Data("new".utf8))
            let info = try await h.inspector.taskInfo(queue: "q", id: "s1")
            #expect(info.payload == Data("new".utf8))
            #expect(info.maxRetry == 3 && info.state == .scheduled)
            let fields = try await h.redis.hkeys(RedisKeys.taskKey("q", "s1")).sorted()
            #expect(fields == ["msg", "state", "unique_key"])

            try await h.inspector.updateTaskPayload(queue: "q", id: "s1", payload: nil)
            #expect(try await h.inspector.taskInfo(queue: "q", id: "s1").payload == nil)

            let pending = await asynqError {
                try await h.inspector.updateTaskPayload(queue: "q", id: "p1", payload: Data())
            }
            #expect(pending?.code == .invalidState)
            #expect(
                pending?.message == "asynq: FAILED_PRECONDITION: cannot update task that is not in scheduled state.")
            let missing = await asynqError {
                try await h.inspector.updateTaskPayload(queue: "q", id: "zz", payload: Data())
            }
            #expect(missing?.message == "asynq: task not found")
            let noQueue = await asynqError {
                try await h.inspector.updateTaskPayload(queue: "nope", id: "s1", payload: Data())
            }
            #expect(noQueue?.message == "asynq: queue not found")
        }
    }

    // MARK: - Bulk operations

    @Test("deleteAll deletes every task of a state")
    func deleteAll() async throws {
        try await withHarness { h in
            try await h.seedAllStates(queue: "q")
            try await h.enqueue("u1", .processIn(.seconds(60)), .unique(ttl: .seconds(3600)))
            let lock = RedisKeys.unique("q", type: "email:deliver", payload: Data(#"{"id":"u1"}"#.utf8))
            #expect(try await h.inspector.deleteAll(queue: "q", state: .pending) == 2)
            #expect(try await h.inspector.deleteAll(queue: "q", state: .scheduled) == 2)
            #expect(try await h.redis.exists(lock) == 0, "scheduled deletions release unique locks")
            #expect(try await h.inspector.deleteAll(queue: "q", state: .retry) == 1)
            #expect(try await h.inspector.deleteAll(queue: "q", state: .archived) == 1)
            #expect(try await h.inspector.deleteAll(queue: "q", state: .completed) == 1)
            #expect(try await h.inspector.deleteAll(queue: "q", state: .aggregating, group: "grp") == 2)
            #expect(try await h.inspector.deleteAll(queue: "q", state: .pending) == 0)
            let info = try await h.inspector.queueInfo("q")
            #expect(info.size == 1 && info.active == 1 && info.groups == 0)
            for id in ["p1", "s1", "r1", "x1", "c1", "g1"] {
                #expect(try await h.redis.exists(RedisKeys.taskKey("q", id)) == 0)
            }

            let active = await asynqError { _ = try await h.inspector.deleteAll(queue: "q", state: .active) }
            #expect(active?.code == .invalidArgument)
            let noGroup = await asynqError { _ = try await h.inspector.deleteAll(queue: "q", state: .aggregating) }
            #expect(noGroup?.code == .invalidArgument)
            let missing = await asynqError { _ = try await h.inspector.deleteAll(queue: "nope", state: .retry) }
            #expect(missing?.code == .queueNotFound)
            // Go's texts: the bulk methods wrap the INTERNAL_ERROR of their queue check.
            #expect(missing?.message == #"NOT_FOUND: INTERNAL_ERROR: queue "nope" does not exist"#)
            let missingPending = await asynqError {
                _ = try await h.inspector.deleteAll(queue: "nope", state: .pending)
            }
            #expect(missingPending?.message == #"INTERNAL_ERROR: INTERNAL_ERROR: queue "nope" does not exist"#)
        }
    }

    @Test("runAll moves every task of a state to pending")
    func runAll() async throws {
        try await withHarness { h in
            try await h.seedAllStates(queue: "q")
            #expect(try await h.inspector.runAll(queue: "q", state: .scheduled) == 1)
            #expect(try await h.inspector.runAll(queue: "q", state: .retry) == 1)
            #expect(try await h.inspector.runAll(queue: "q", state: .archived) == 1)
            #expect(try await h.inspector.runAll(queue: "q", state: .aggregating, group: "grp") == 2)
            let info = try await h.inspector.queueInfo("q")
            #expect(info.pending == 7 && info.scheduled == 0 && info.retry == 0 && info.archived == 0)
            #expect(info.aggregating == 0 && info.groups == 0 && info.completed == 1)
            for id in ["s1", "r1", "x1", "g1", "g2"] {
                #expect(try await h.inspector.taskInfo(queue: "q", id: id).state == .pending)
            }
            for state in [TaskState.pending, .active, .completed] {
                let error = await asynqError { _ = try await h.inspector.runAll(queue: "q", state: state) }
                #expect(error?.code == .invalidArgument)
            }
            let missing = await asynqError { _ = try await h.inspector.runAll(queue: "nope", state: .retry) }
            #expect(missing?.code == .queueNotFound)
            #expect(missing?.message == #"NOT_FOUND: INTERNAL_ERROR: queue "nope" does not exist"#)
            let missingGroup = await asynqError {
                _ = try await h.inspector.runAll(queue: "nope", state: .aggregating, group: "g")
            }
            #expect(missingGroup?.message == #"INTERNAL_ERROR: INTERNAL_ERROR: queue "nope" does not exist"#)
        }
    }

    @Test("archiveAll archives every task of a state")
    func archiveAll() async throws {
        try await withHarness { h in
            try await h.seedAllStates(queue: "q")
            #expect(try await h.inspector.archiveAll(queue: "q", state: .pending) == 2)
            #expect(try await h.inspector.archiveAll(queue: "q", state: .scheduled) == 1)
            #expect(try await h.inspector.archiveAll(queue: "q", state: .retry) == 1)
            #expect(try await h.inspector.archiveAll(queue: "q", state: .aggregating, group: "grp") == 2)
            let info = try await h.inspector.queueInfo("q")
            #expect(info.archived == 7 && info.pending == 0 && info.aggregating == 0 && info.groups == 0)
            let archived = try await h.inspector.listTasks(queue: "q", state: .archived).map(\.id)
            #expect(Set(archived) == ["x1", "p1", "p2", "s1", "r1", "g1", "g2"])
            for state in [TaskState.active, .archived, .completed] {
                let error = await asynqError { _ = try await h.inspector.archiveAll(queue: "q", state: state) }
                #expect(error?.code == .invalidArgument)
            }
            let missing = await asynqError { _ = try await h.inspector.archiveAll(queue: "nope", state: .pending) }
            #expect(missing?.code == .queueNotFound)
            #expect(missing?.message == #"INTERNAL_ERROR: INTERNAL_ERROR: queue "nope" does not exist"#)
            let missingRetry = await asynqError { _ = try await h.inspector.archiveAll(queue: "nope", state: .retry) }
            #expect(missingRetry?.message == #"NOT_FOUND: INTERNAL_ERROR: queue "nope" does not exist"#)
        }
    }

    // MARK: - Queue operations

    @Test("pause and unpause report Go's errors")
    func pauseAndUnpause() async throws {
        try await withHarness { h in
            let before = Int(Date().timeIntervalSince1970)
            try await h.inspector.pause(queue: "q")
            let value = try #require(try await h.redis.get(RedisKeys.paused("q")).flatMap { Int($0) })
            #expect(value >= before && value <= before + 2)
            #expect(try await h.redis.ttl(RedisKeys.paused("q")) == -1)
            let again = await asynqError { try await h.inspector.pause(queue: "q") }
            #expect(again?.code == .invalidState)
            #expect(again?.message == #"queue "q" is already paused"#)
            try await h.inspector.unpause(queue: "q")
            #expect(try await h.redis.exists(RedisKeys.paused("q")) == 0)
            let notPaused = await asynqError { try await h.inspector.unpause(queue: "q") }
            #expect(notPaused?.message == #"queue "q" is not paused"#)
            let blank = await asynqError { try await h.inspector.pause(queue: "") }
            #expect(blank?.code == .invalidArgument)
        }
    }

    @Test("deleteQueue refuses unknown, non-empty and active queues")
    func deleteQueue() async throws {
        try await withHarness { h in
            let missing = await asynqError { try await h.inspector.deleteQueue("nope") }
            #expect(missing?.code == .queueNotFound)
            #expect(missing?.message == #"queue not found: queue="nope""#)

            try await h.seedAllStates(queue: "q")
            let notEmpty = await asynqError { try await h.inspector.deleteQueue("q") }
            #expect(notEmpty?.code == .queueNotEmpty)
            #expect(notEmpty?.message == #"queue is not empty: queue="q""#)
            let active = await asynqError { try await h.inspector.deleteQueue("q", force: true) }
            #expect(active?.code == .invalidState)
            #expect(active?.message == "FAILED_PRECONDITION: cannot remove queue with active tasks")
            #expect(try await h.inspector.queues() == ["q"], "nothing written")

            let message = try #require(try await h.broker.listActive(queue: "q").first)
            try await h.broker.run(h.broker.doneCall(message, now: Date()))
            try await h.inspector.deleteQueue("q", force: true)
            #expect(try await h.inspector.queues().isEmpty)
            for id in ["p1", "s1", "r1", "x1"] {
                #expect(try await h.redis.exists(RedisKeys.taskKey("q", id)) == 0)
            }
            #expect(try await h.redis.exists(RedisKeys.taskKey("q", "c1")) == 1, "completed tasks are left, as in Go")
            #expect(try await h.redis.exists(RedisKeys.group("q", "grp")) == 1, "groups are left, as in Go")

            try await h.enqueue("c2", .queue("other"), .retention(.seconds(60)))
            _ = try await h.inspector.deleteAll(queue: "other", state: .pending)
            try await h.inspector.deleteQueue("other")
            #expect(try await h.inspector.queues().isEmpty)
        }
    }

    @Test("cancelProcessing publishes the task ID on asynq:cancel")
    func cancelProcessing() async throws {
        try await withHarness { h in
            let received = try await h.redis.withSubscription(channels: ["asynq:cancel"]) { subscription in
                var iterator = subscription.makeAsyncIterator()
                while let event = try await iterator.next() {
                    switch event {
                    case .ready:
                        try await h.inspector.cancelProcessing(taskID: "t-42")
                    case .message(let message):
                        return message.payloadString
                    }
                }
                return ""
            }
            #expect(received == "t-42")
        }
    }

    // MARK: - Servers and schedulers

    @Test("servers joins live servers with their workers and prunes expired ones")
    func servers() async throws {
        try await withHarness { h in
            let now = Date()
            let started = Date(timeIntervalSince1970: 1_795_000_000.25)
            try await h.writeServer(id: "s-a", pid: 11, started: started, expiresAt: now.addingTimeInterval(10))
            try await h.writeServer(id: "s-b", pid: 12, started: started, expiresAt: now.addingTimeInterval(10))
            try await h.writeServer(id: "s-old", pid: 13, started: started, expiresAt: now.addingTimeInterval(-30))
            let deadline = Date(timeIntervalSince1970: 1_795_001_800)
            try await h.writeWorkers(
                server: "s-a", pid: 11, workers: [("t1", deadline), ("t2", nil)], expiresAt: now.addingTimeInterval(10))
            try await h.writeWorkers(
                server: "s-ghost", pid: 99, workers: [("t3", deadline)], expiresAt: now.addingTimeInterval(10))

            let servers = try await h.inspector.servers().sorted { $0.id < $1.id }
            #expect(servers.map(\.id) == ["s-a", "s-b"])
            let a = try #require(servers.first)
            #expect(a.host == "host-x" && a.pid == 11 && a.concurrency == 4 && a.status == "active")
            #expect(a.queues == ["critical": 6, "default": 3])
            #expect(a.strictPriority)
            #expect(abs(a.started.timeIntervalSince(started)) < 1e-6)
            let workers = a.activeWorkers.sorted { $0.taskID < $1.taskID }
            #expect(workers.map(\.taskID) == ["t1", "t2"])
            #expect(workers.first?.deadline == deadline)
            #expect(workers.last?.deadline == nil, "Go's zero time means no deadline")
            #expect(workers.first?.taskPayload == Data("payload-t1".utf8))
            #expect(workers.first?.queue == "default" && workers.first?.taskType == "work")
            #expect(servers.last?.activeWorkers.isEmpty == true)
            #expect(try await h.redis.zcard(RedisKeys.allServers) == 2, "the expired member is pruned")
        }
    }

    @Test("servers and active tasks written by a Go server read back")
    func readsGoServerState() async throws {
        try await withHarness { h in
            let fixture = try InspectorFixture.load("12-active-task-server-state")
            try await fixture.restore(fixture.redis, into: h.redis, liveUntil: Date().addingTimeInterval(60))
            let servers = try await h.inspector.servers()
            let server = try #require(servers.first)
            #expect(servers.count == 1)
            #expect(server.id == "41dc0173-061b-410e-8eba-ed36879d5107")
            #expect(server.host == "vm" && server.pid == 7967 && server.concurrency == 2)
            #expect(server.queues == ["critical": 6, "default": 3, "low": 1])
            #expect(server.status == "active" && !server.strictPriority)
            #expect(abs(server.started.timeIntervalSince1970 - 1_795_553_938.580579849) < 1e-6)
            let worker = try #require(server.activeWorkers.first)
            #expect(worker.taskID == "t-active" && worker.taskType == "report:generate" && worker.queue == "default")
            #expect(worker.taskPayload == Data(#"{"report":"monthly"}"#.utf8))
            let deadline = try #require(worker.deadline)
            #expect(abs(deadline.timeIntervalSince(worker.started) - 1800) < 0.001)

            let active = try await h.inspector.listTasks(queue: "default", state: .active)
            #expect(active.map(\.id) == ["t-active"])
            #expect(active.first?.isOrphaned == (Date().timeIntervalSince1970 >= 1_795_553_973))
        }
    }

    @Test("scheduler entries written by Go read back with their options")
    func readsGoSchedulerEntries() async throws {
        try await withHarness { h in
            let registered = try InspectorFixture.load("17-scheduler-registered")
            try await registered.restore(registered.redis, into: h.redis, liveUntil: Date().addingTimeInterval(60))
            let entries = try await h.inspector.schedulerEntries()
            let entry = try #require(entries.first)
            #expect(entries.count == 1)
            #expect(entry.id == "555fedde-4c73-4b6f-a79f-a47502e5f482")
            #expect(entry.spec == "@every 30s")
            #expect(entry.task.type == "cron:tick")
            #expect(entry.task.payload == Data(#"{"source":"cron"}"#.utf8))
            #expect(entry.prev == nil, "never fired: Go's zero time")
            #expect(entry.next == ISO8601DateFormatter().date(from: "2026-11-24T20:59:36Z"))
            #expect(
                entry.options == [
                    .queue("low"), .maxRetry(5), .timeout(.seconds(90)),
                    .deadline(Date(timeIntervalSince1970: 1_893_456_000)), .unique(ttl: .seconds(3600)),
                    .retention(.seconds(86_400)), .header("source", "cron"), .processIn(.seconds(300)),
                ],
                "Group and TaskID are dropped, as Go's inspector does"
            )

            let fired = try InspectorFixture.load("13-scheduler-fired")
            try await fired.restore(fired.redis, into: h.redis, liveUntil: Date().addingTimeInterval(60))
            let all = try await h.inspector.schedulerEntries()
            let firedEntry = try #require(all.first { $0.id == "50a5b9b5-132e-4db2-949f-7e59edae9277" })
            #expect(all.count == 2)
            #expect(firedEntry.options == [.queue("default"), .maxRetry(2), .timeout(.seconds(60))])
            #expect(firedEntry.prev != nil)
            let events = try await h.inspector.schedulerEnqueueEvents(entryID: firedEntry.id)
            #expect(events.map(\.taskID) == ["9226ffe5-81b2-4fb5-86db-3bfcbd108fc3"])
            #expect(abs((events.first?.enqueuedAt.timeIntervalSince1970 ?? 0) - 1_795_553_945.001791659) < 1e-6)
        }
    }

    @Test("scheduler entries of expired schedulers are pruned; events page newest first")
    func schedulerEntriesAndEvents() async throws {
        try await withHarness { h in
            let now = Date()
            var entry = Asynq_SchedulerEntry()
            entry.id = "e1"
            entry.spec = "@every 1m"
            entry.taskType = "tick"
            entry.enqueueOptions = ["Queue(\"low\")", "NoParens", "MaxRetry(x)", "Group(\"g\")"]
            entry.nextEnqueueTime = Google_Protobuf_Timestamp(date: now.addingTimeInterval(60))
            entry.prevEnqueueTime = Google_Protobuf_Timestamp(seconds: -62_135_596_800, nanos: 0)
            let live = "asynq:schedulers:{h:1:live}"
            let dead = "asynq:schedulers:{h:1:dead}"
            try await h.redis.lpush(live, [RESPBytes(try entry.serializedBytes() as [UInt8])])
            try await h.redis.lpush(dead, [RESPBytes(try entry.serializedBytes() as [UInt8])])
            try await h.redis.zadd(
                RedisKeys.allSchedulers,
                [
                    (score: now.timeIntervalSince1970 + 20, member: live),
                    (score: now.timeIntervalSince1970 - 20, member: dead),
                ]
            )
            let entries = try await h.inspector.schedulerEntries()
            #expect(entries.count == 1)
            #expect(entries.first?.options == [.queue("low")])
            #expect(entries.first?.task.payload == nil)
            #expect(entries.first?.prev == nil)
            #expect(try await h.redis.zcard(RedisKeys.allSchedulers) == 1)

            let key = RedisKeys.schedulerHistory("e1")
            for i in 1...5 {
                var event = Asynq_SchedulerEnqueueEvent()
                event.taskID = "t\(i)"
                event.enqueueTime = Google_Protobuf_Timestamp(seconds: Int64(1_795_000_000 + i), nanos: 0)
                let bytes: [UInt8] = try event.serializedBytes()
                try await h.redis.send(RedisCommand("ZADD", key, 1_795_000_000 + i, RESPBytes(bytes)))
            }
            func ids(page: Int = 1, size: Int = 30) async throws -> [String] {
                try await h.inspector.schedulerEnqueueEvents(entryID: "e1", page: page, pageSize: size).map(\.taskID)
            }
            #expect(try await ids() == ["t5", "t4", "t3", "t2", "t1"])
            #expect(try await ids(page: 2, size: 2) == ["t3", "t2"])
            #expect(try await ids(page: 3, size: 2) == ["t1"])
            #expect(try await h.inspector.schedulerEnqueueEvents(entryID: "unknown").isEmpty)

            try await h.redis.send(RedisCommand("ZADD", key, 1, RESPBytes([0xFF, 0x01])))
            let bad = await asynqError { _ = try await h.inspector.schedulerEnqueueEvents(entryID: "e1", pageSize: 0) }
            #expect(bad != nil, "an undecodable event fails the read, as in Go")
        }
    }

    // MARK: - Cluster helpers

    @Test("cluster helpers report the queue's slot and nodes")
    func clusterHelpers() async throws {
        try await withRedisServer(
            .init(extraArguments: ["--cluster-enabled", "yes", "--cluster-announce-ip", "127.0.0.1"])
        ) { server in
            let redis = try RedisClient(options: server.connectionOptions())
            let inspector = AsynqInspector(redis: redis)
            do {
                try await redis.send(RedisCommand("CLUSTER", "ADDSLOTSRANGE", 0, 16383))
                #expect(try await inspector.clusterKeySlot(queue: "default") == 5718)
                #expect(try await inspector.clusterKeySlot(queue: "critical") == 8090)
                #expect(try await inspector.clusterKeySlot(queue: "low") == 15214)
                let myID: String = try await redis.send(RedisCommand("CLUSTER", "MYID")).decode()
                let nodes = try await inspector.clusterNodes(queue: "default")
                #expect(nodes == [ClusterNode(id: myID, address: "127.0.0.1:\(server.port)")])
            } catch {
                await redis.close()
                throw error
            }
            await redis.close()
        }
        try await withHarness { h in
            let error = await asynqError { _ = try await h.inspector.clusterKeySlot(queue: "default") }
            #expect(error?.code == .redis, "cluster support is disabled on a standalone server")
        }
    }

    // MARK: - Option strings

    @Test("option strings parse back as Go's inspector parses them")
    func optionStrings() throws {
        let deadline = Date(timeIntervalSince1970: 1_893_456_000)
        let cases: [(String, TaskOption?)] = [
            ("MaxRetry(5)", .maxRetry(5)),
            ("MaxRetry(-3)", .maxRetry(0)),
            ("MaxRetry(+7)", .maxRetry(7)),
            ("MaxRetry(x)", nil),
            (#"Queue("critical")"#, .queue("critical")),
            (#"Queue("a\"b\\c\n\t\u00e9\x41\101\U0001F600")"#, .queue("a\"b\\c\n\té" + "AA😀")),
            ("Queue(`raw\\n`)", .queue("raw\\n")),
            ("Queue('x')", .queue("x")),
            ("Queue('xy')", nil),
            ("Queue(critical)", nil),
            (#"Queue("a)b")"#, nil),
            (#"Queue("\'")"#, nil),
            ("Timeout(1m30s)", .timeout(.seconds(90))),
            ("Timeout(1.5h)", .timeout(.seconds(5400))),
            ("Timeout(90)", nil),
            ("Deadline(Tue Jan  1 00:00:00 UTC 2030)", .deadline(deadline)),
            ("Deadline(Tue Jan 1 00:00:00 UTC 2030)", .deadline(deadline)),
            ("Deadline(tue JAN  1 00:00:00 UTC 2030)", .deadline(deadline)),
            ("Deadline(Tue Jan  1 02:00:00 GMT+2 2030)", .deadline(deadline)),
            ("Deadline(Tue Jan  1 00:00:00.5 UTC 2030)", .deadline(deadline.addingTimeInterval(0.5))),
            ("Deadline(Tue Feb 30 00:00:00 UTC 2030)", nil),
            ("Deadline(Tue Jan  1 24:00:00 UTC 2030)", nil),
            ("Deadline(Tue Jan  1 0:00:00 UTC 2030)", .deadline(deadline)),
            ("Deadline(Tue Jan  1 00:0:00 UTC 2030)", nil),
            ("Deadline(Tue Jan  1 00:00:00 UTC 30)", nil),
            ("Deadline(Tue Jan  1 00:00:00 UTC 2030 extra)", nil),
            ("ProcessAt(Sat Feb 29 12:30:45 UTC 2028)", .processAt(Date(timeIntervalSince1970: 1_835_440_245))),
            ("Unique(1h0m0s)", .unique(ttl: .seconds(3600))),
            ("ProcessIn(5m0s)", .processIn(.seconds(300))),
            ("Retention(24h0m0s)", .retention(.seconds(86_400))),
            (#"Header(["source","cron"])"#, .header("source", "cron")),
            (#"Header(["a\u003cb","\u0026"])"#, .header("a<b", "&")),
            (#"Header(["only"])"#, nil),
            (#"TaskID("cron-task")"#, nil),
            (#"Group("g")"#, nil),
            ("Unknown(1)", nil),
            ("NoParens", nil),
            ("", nil),
        ]
        for (text, expected) in cases {
            #expect(TaskOption(optionString: text) == expected, "\(text)")
        }
    }

    @Test("every parseable option survives description → parse")
    func optionRoundTrip() {
        let options: [TaskOption] = [
            .maxRetry(12), .queue("weird \"name\"\t✓\u{7}"), .timeout(.milliseconds(1500)),
            .deadline(Date(timeIntervalSince1970: 2_000_000_000)), .unique(ttl: .seconds(7200)),
            .processAt(Date(timeIntervalSince1970: 1_900_000_003)), .processIn(.seconds(42)),
            .retention(.zero), .header("k<", "v&"),
        ]
        for option in options {
            #expect(TaskOption(optionString: option.description) == option, "\(option.description)")
        }
    }

    // MARK: - Reading what Go wrote

    @Test(
        "every task Go wrote reads back with the state and counts Go recorded",
        arguments: [
            "01-enqueue-defaults", "02-enqueue-all-options", "03-process-in-scheduled", "04-unique-duplicate",
            "05-taskid-conflict", "06-group-aggregating", "07-completed-with-result", "08-retry-after-failure",
            "09-skip-retry-archived", "10-maxretry-zero-archived", "11-pause-queue", "14-batch-enqueue",
            "16-group-aggregated", "18-unique-variants", "19-headers-merge", "20-done-no-retention",
            "21-forwarded-scheduled",
        ]
    )
    func readsGoTasks(_ name: String) async throws {
        try await withHarness { h in
            let fixture = try InspectorFixture.load(name)
            try await fixture.restore(fixture.redis, into: h.redis, liveUntil: Date().addingTimeInterval(60))
            let queues = try fixture.setMembers(fixture.redis, "asynq:queues")
            #expect(Set(try await h.inspector.queues()) == Set(queues))
            for queue in queues {
                let info = try await h.inspector.queueInfo(queue)
                let prefix = "asynq:{\(queue)}:"
                #expect(info.pending == fixture.length(of: prefix + "pending"))
                #expect(info.active == fixture.length(of: prefix + "active"))
                #expect(info.scheduled == fixture.length(of: prefix + "scheduled"))
                #expect(info.retry == fixture.length(of: prefix + "retry"))
                #expect(info.archived == fixture.length(of: prefix + "archived"))
                #expect(info.completed == fixture.length(of: prefix + "completed"))
                #expect(info.paused == (fixture.redis[prefix + "paused"] != nil))
                #expect(info.processedTotal == fixture.counter(prefix + "processed"))
                #expect(info.failedTotal == fixture.counter(prefix + "failed"))
                #expect(info.processed == fixture.counter(prefix + "processed:" + RedisKeys.utcDay(info.timestamp)))
                #expect(info.failed == fixture.counter(prefix + "failed:" + RedisKeys.utcDay(info.timestamp)))

                for (key, hash) in fixture.taskHashes(queue: queue) {
                    let id = String(key.dropFirst(prefix.count + 2))
                    let task = try await h.inspector.taskInfo(queue: queue, id: id)
                    let decoded = try #require(hash.decoded)
                    #expect(task.state.description == hash.state)
                    #expect(task.id == decoded["id"] as? String)
                    #expect(task.type == decoded["type"] as? String)
                    #expect(task.maxRetry == decoded["retry"] as? Int)
                    #expect(task.retried == decoded["retried"] as? Int)
                    #expect(task.lastError == decoded["error_msg"] as? String)
                    #expect(task.headers == (decoded["headers"] as? [String: String] ?? [:]))
                    #expect(task.timeout == .seconds(Int64(decoded["timeout"] as? String ?? "") ?? -1))
                    #expect(task.result == hash.result)
                    guard let state = TaskState(name: hash.state) else {
                        Issue.record("unknown state \(hash.state)")
                        continue
                    }
                    let listed = try await h.inspector.listTasks(
                        queue: queue, state: state, group: hash.group, pageSize: 0)
                    #expect(listed.contains { $0.id == id }, "\(id) listed as \(state)")
                }
            }
        }
    }

    // MARK: - Compat replay

    @Test("replaying 15-inspector-ops.json leaves the Redis state Go left, step by step")
    func replayInspectorOps() async throws {
        let fixture = try InspectorFixture.load("15-inspector-ops")
        try await withHarness { h in
            try await h.redis.send(RedisCommand("FLUSHALL"))
            let start = Date()
            let task = AsynqTask(type: "email:deliver", payload: #"{"user_id":42,"template_id":"some:template:id"}"#)
            try await h.client.enqueue(task, .taskID("t-p1"))
            try await h.client.enqueue(task, .taskID("t-p2"))
            try await h.client.enqueue(task, .taskID("t-p3"))
            try await h.client.enqueue(task, .processIn(.seconds(3600)), .taskID("t-s1"))
            try await fixture.expectSnapshot(0, matches: h.redis, start: start)

            try await h.inspector.archiveTask(queue: "default", id: "t-p1")
            try await fixture.expectSnapshot(1, matches: h.redis, start: start)

            let deleted = try await h.inspector.deleteAll(queue: "default", state: .pending)
            #expect(deleted == fixture.returnedResult(step: 9))
            try await fixture.expectSnapshot(2, matches: h.redis, start: start)

            try await h.inspector.runTask(queue: "default", id: "t-s1")
            try await fixture.expectSnapshot(3, matches: h.redis, start: start)

            let errors: [(Int, AsynqError?)] = [
                (11, await asynqError { try await h.inspector.runTask(queue: "default", id: "t-s1") }),
                (12, await asynqError { try await h.inspector.archiveTask(queue: "default", id: "no-such-task") }),
                (13, await asynqError { try await h.inspector.archiveTask(queue: "default", id: "t-p1") }),
                (14, await asynqError { try await h.inspector.runTask(queue: "nosuchqueue", id: "t-p1") }),
            ]
            for (step, error) in errors {
                let recorded = try #require(fixture.returnedError(step: step))
                #expect(error?.message == recorded.message, "step \(step)")
                switch recorded.sentinel {
                case "asynq.ErrTaskNotFound": #expect(error?.code == .taskNotFound)
                case "asynq.ErrQueueNotFound": #expect(error?.code == .queueNotFound)
                default: #expect(error?.code == .invalidState)
                }
            }
            try await fixture.expectMainDump(matches: h.redis, start: start)
        }
    }

    // MARK: - Client maintenance

    @Test("client purge deletes the chosen states; runTask runs a task now")
    func clientMaintenance() async throws {
        try await withHarness { h in
            try await h.seedAllStates(queue: "q")
            let retryOnly = try await h.client.purge(queue: "q", states: [.retry])
            #expect(retryOnly == [.retry: 1])
            try await h.client.runTask(id: "x1", queue: "q")
            #expect(try await h.inspector.taskInfo(queue: "q", id: "x1").state == .pending)
            try await h.enqueue("g3", .group("other"))
            let purged = try await h.client.purge(queue: "q")
            #expect(purged == [.pending: 3, .scheduled: 1, .retry: 0, .archived: 0, .completed: 1, .aggregating: 3])
            let info = try await h.inspector.queueInfo("q")
            #expect(info.size == 1 && info.active == 1 && info.groups == 0)

            let active = await asynqError { _ = try await h.client.purge(queue: "q", states: [.active]) }
            #expect(active?.code == .invalidArgument)
            let missing = await asynqError { _ = try await h.client.purge(queue: "nope") }
            #expect(missing?.code == .queueNotFound)
            let noTask = await asynqError { try await h.client.runTask(id: "zz", queue: "q") }
            #expect(noTask?.code == .taskNotFound)
            try await h.enqueue("d1", .queue("default"), .processIn(.seconds(60)))
            try await h.client.runTask(id: "d1")
            #expect(try await h.inspector.taskInfo(queue: "default", id: "d1").state == .pending)
        }
    }
}

// MARK: - InspectorHarness

private struct InspectorHarness: Sendable {
    let redis: RedisClient
    let client: AsynqClient
    let inspector: AsynqInspector
    var broker: RedisBroker { client.broker }

    struct Seeded {
        var scheduledAt: Date
        var retryAt: Date
    }

    @discardableResult
    func enqueue(_ id: String, _ options: TaskOption...) async throws -> TaskInfo {
        let task = AsynqTask(type: "email:deliver", payload: #"{"id":"\#(id)"}"#)
        return try await client.enqueue(task, options: [.queue("q"), .taskID(id)] + options)
    }

    /// Dequeues the oldest pending task of `queue` (now active).
    func dequeue(_ queue: String) async throws -> TaskMessage {
        let results = try await broker.dequeue(queue: queue, count: 1, now: Date())
        return try #require(results.first).get()
    }

    /// One task in every state: p1, p2 pending; a1 active; s1 scheduled; r1 retry; x1
    /// archived; c1 completed (result "done"); g1, g2 aggregating in group "grp".
    @discardableResult
    func seedAllStates(queue: String) async throws -> Seeded {
        let now = Date()
        try await enqueue("a1", .queue(queue))
        _ = try await dequeue(queue)

        try await enqueue("r1", .queue(queue))
        let retryAt = now.addingTimeInterval(3600)
        try await broker.run(
            broker.retryCall(
                try await dequeue(queue), retryAt: retryAt, errorMessage: "boom", isFailure: true, now: now)
        )

        try await enqueue("x1", .queue(queue))
        try await broker.run(broker.archiveCall(try await dequeue(queue), errorMessage: "fatal", now: now))

        try await enqueue("c1", .queue(queue), .retention(.seconds(3600)))
        let completed = try await dequeue(queue)
        try await broker.writeResult(queue: queue, taskID: "c1", data: Data("done".utf8))
        try await broker.run(broker.markCompleteCall(completed, now: now))

        try await enqueue("p1", .queue(queue))
        try await enqueue("p2", .queue(queue))
        let scheduledAt = now.addingTimeInterval(7200)
        try await enqueue("s1", .queue(queue), .processAt(scheduledAt))
        try await enqueue("g1", .queue(queue), .group("grp"))
        try await enqueue("g2", .queue(queue), .group("grp"))
        return Seeded(scheduledAt: scheduledAt, retryAt: retryAt)
    }

    func writeServer(id: String, pid: Int32, started: Date, expiresAt: Date) async throws {
        var info = Asynq_ServerInfo()
        info.host = "host-x"
        info.pid = pid
        info.serverID = id
        info.concurrency = 4
        info.queues = ["critical": 6, "default": 3]
        info.strictPriority = true
        info.status = "active"
        info.startTime = Google_Protobuf_Timestamp(date: started)
        let key = RedisKeys.serverInfo(host: "host-x", pid: Int(pid), serverID: id)
        let bytes: [UInt8] = try info.serializedBytes()
        try await redis.set(key, RESPBytes(bytes))
        try await redis.zadd(
            RedisKeys.allServers, [(score: expiresAt.timeIntervalSince1970.rounded(.down), member: key)])
    }

    func writeWorkers(server: String, pid: Int32, workers: [(String, Date?)], expiresAt: Date) async throws {
        let key = RedisKeys.workers(host: "host-x", pid: Int(pid), serverID: server)
        for (taskID, deadline) in workers {
            var info = Asynq_WorkerInfo()
            info.host = "host-x"
            info.pid = pid
            info.serverID = server
            info.taskID = taskID
            info.taskType = "work"
            info.taskPayload = Data("payload-\(taskID)".utf8)
            info.queue = "default"
            info.startTime = Google_Protobuf_Timestamp(date: Date())
            info.deadline =
                deadline.map { Google_Protobuf_Timestamp(date: $0) }
                ?? Google_Protobuf_Timestamp(seconds: -62_135_596_800, nanos: 0)
            let bytes: [UInt8] = try info.serializedBytes()
            try await redis.hset(key, field: taskID, value: RESPBytes(bytes))
        }
        try await redis.zadd(
            RedisKeys.allWorkers, [(score: expiresAt.timeIntervalSince1970.rounded(.down), member: key)])
    }
}

extension RedisBroker {
    /// Messages of the active tasks of a queue (test helper).
    fileprivate func listActive(queue: String) async throws -> [TaskMessage] {
        let ids = try await redis.lrange(RedisKeys.active(queue), 0, -1)
        var messages: [TaskMessage] = []
        for id in ids {
            let reply = try await redis.send(RedisCommand("HGET", RedisKeys.taskKey(queue, id), "msg"))
            messages.append(try TaskMessage.decode(try #require(reply.bytes)))
        }
        return messages
    }
}

extension RedisClient {
    fileprivate func hgetBytes(_ key: String, _ field: String) async throws -> [UInt8]? {
        try await send(RedisCommand("HGET", key, field)).bytes
    }
}

private func withHarness(_ body: (InspectorHarness) async throws -> Void) async throws {
    try await withRedisServer { server in
        let redis = try RedisClient(options: server.connectionOptions())
        let harness = InspectorHarness(
            redis: redis, client: AsynqClient(redis: redis), inspector: AsynqInspector(redis: redis))
        do {
            try await body(harness)
        } catch {
            await redis.close()
            throw error
        }
        await redis.close()
    }
}

/// The `AsynqError` thrown by `body`, or nil when it succeeds (or throws something else).
private func asynqError(_ body: () async throws -> Void) async -> AsynqError? {
    do {
        try await body()
        return nil
    } catch let error as AsynqError {
        return error
    } catch {
        Issue.record("expected an AsynqError, got \(error)")
        return nil
    }
}

// MARK: - Compat fixtures

/// One recorded scenario of `Tests/Fixtures/compat` (format: that directory's README).
private struct InspectorFixture {
    let name: String
    let root: [String: Any]
    /// The main dump.
    let redis: [String: Any]

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
        .appendingPathComponent("compat")

    static func load(_ name: String) throws -> InspectorFixture {
        let data = try Data(contentsOf: directory.appendingPathComponent("\(name).json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return InspectorFixture(name: name, root: root, redis: try #require(root["redis"] as? [String: Any]))
    }

    // MARK: Reading values

    static func bytes(_ element: Any) throws -> [UInt8] {
        if let text = element as? String { return Array(text.utf8) }
        let object = try #require(element as? [String: Any])
        let hex = try #require(object["hex"] as? String)
        return try hexBytes(hex)
    }

    static func hexBytes(_ hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        try #require(digits.count % 2 == 0)
        return try stride(from: 0, to: digits.count, by: 2).map { index in
            try #require(UInt8(String(decoding: digits[index..<(index + 2)], as: UTF8.self), radix: 16))
        }
    }

    func entry(_ key: String) -> [String: Any]? { redis[key] as? [String: Any] }

    func length(of key: String) -> Int { (entry(key)?["value"] as? [Any])?.count ?? 0 }

    func counter(_ key: String) -> Int { (entry(key)?["value"] as? String).flatMap { Int($0) } ?? 0 }

    func setMembers(_ dump: [String: Any], _ key: String) throws -> [String] {
        let entry = try #require(dump[key] as? [String: Any])
        return try #require(entry["value"] as? [String])
    }

    struct TaskHash {
        var state: String
        var group: String?
        var decoded: [String: Any]?
        var result: Data?
    }

    func taskHashes(queue: String) -> [(String, TaskHash)] {
        let prefix = "asynq:{\(queue)}:t:"
        return redis.keys.filter { $0.hasPrefix(prefix) }.sorted().compactMap { key in
            guard let value = entry(key)?["value"] as? [String: Any], let state = value["state"] as? String,
                let msg = value["msg"] as? [String: Any]
            else { return nil }
            let result = (value["result"] as? String).map { Data($0.utf8) }
            return (
                key,
                TaskHash(
                    state: state, group: value["group"] as? String, decoded: msg["decoded"] as? [String: Any],
                    result: result
                )
            )
        }
    }

    // MARK: Restoring a dump

    /// Writes every key of `dump` into Redis; liveness zsets (servers, workers, schedulers)
    /// get `liveUntil` as their scores so the recorded processes count as running.
    func restore(_ dump: [String: Any], into redis: RedisClient, liveUntil: Date) async throws {
        let liveness: Set<String> = [RedisKeys.allServers, RedisKeys.allWorkers, RedisKeys.allSchedulers]
        for (key, raw) in dump {
            let entry = try #require(raw as? [String: Any])
            let type = try #require(entry["type"] as? String)
            switch type {
            case "string":
                try await redis.set(key, RESPBytes(try Self.bytes(try #require(entry["value"]))))
            case "hash":
                let fields = try #require(entry["value"] as? [String: Any])
                for (field, value) in fields {
                    try await redis.hset(key, field: field, value: RESPBytes(try Self.bytes(value)))
                }
            case "list":
                let elements = try #require(entry["value"] as? [Any])
                try await redis.rpush(key, try elements.map { RESPBytes(try Self.bytes($0)) })
            case "set":
                let members = try #require(entry["value"] as? [Any])
                try await redis.sadd(key, try members.map { RESPBytes(try Self.bytes($0)) })
            case "zset":
                let pairs = try #require(entry["value"] as? [[Any]])
                var command = RedisCommand("ZADD", key)
                for pair in pairs {
                    let score =
                        liveness.contains(key) ? liveUntil.timeIntervalSince1970 : try #require(pair[1] as? Double)
                    command.append(score, RESPBytes(try Self.bytes(pair[0])))
                }
                try await redis.send(command)
            default:
                Issue.record("unknown type \(type) of \(key)")
            }
        }
    }

    // MARK: Returned values

    func returned(step: Int) -> [String: Any]? {
        (root["returned"] as? [[String: Any]])?.first { ($0["step"] as? Int) == step }
    }

    func returnedResult(step: Int) -> Int? { returned(step: step)?["result"] as? Int }

    func returnedError(step: Int) -> (message: String, sentinel: String?)? {
        guard let entry = returned(step: step), let message = entry["error"] as? String else { return nil }
        return (message, entry["error_is"] as? String)
    }

    // MARK: Comparing dumps

    func expectSnapshot(
        _ index: Int, matches redis: RedisClient, start: Date, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let snapshots = try #require(root["snapshots"] as? [[String: Any]])
        let snapshot = try #require(snapshots[index]["redis"] as? [String: Any])
        try await compareDump(
            snapshot, at: "/snapshots/\(index)/redis", matches: redis, start: start, sourceLocation: sourceLocation)
    }

    func expectMainDump(
        matches redis: RedisClient, start: Date, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await compareDump(self.redis, at: "/redis", matches: redis, start: start, sourceLocation: sourceLocation)
    }

    /// Volatile JSON pointers → (kind, offset from the scenario start in seconds).
    var volatile: [String: (kind: String, offset: Double?)] {
        var paths: [String: (kind: String, offset: Double?)] = [:]
        for item in root["volatile"] as? [[String: Any]] ?? [] {
            if let path = item["path"] as? String, let kind = item["kind"] as? String {
                paths[path] = (kind, item["offset_from_start_s"] as? Double)
            }
        }
        return paths
    }

    private static func pointer(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    private func compareDump(
        _ expected: [String: Any], at base: String, matches redis: RedisClient, start: Date,
        sourceLocation: SourceLocation
    ) async throws {
        let keys = try await redis.scanKeys()
        #expect(Set(keys) == Set(expected.keys), "\(name) \(base): key sets", sourceLocation: sourceLocation)
        let volatile = self.volatile
        var problems: [String] = []
        func check(_ ours: [UInt8], _ recorded: Any, path: String) {
            if let rule = volatile[path] {
                problems += Self.checkVolatile(ours, rule: rule, start: start, path: path)
                return
            }
            let theirs: [UInt8]
            do {
                theirs = try Self.bytes(recorded)
            } catch {
                problems.append("\(path): unreadable fixture value")
                return
            }
            if ours != theirs {
                problems.append("\(path): \(Self.render(ours)) ≠ \(Self.render(theirs))")
            }
        }
        for key in keys.sorted() {
            guard let entry = expected[key] as? [String: Any] else { continue }
            let path = base + "/" + Self.pointer(key) + "/value"
            let type = try await redis.type(key)
            if type != entry["type"] as? String {
                problems.append("\(key): type \(type) ≠ \(entry["type"] ?? "?")")
                continue
            }
            let ttl = try await redis.pttl(key)
            if (entry["ttl_ms"] as? Int ?? -1) == -1 ? ttl != -1 : ttl < 0 {
                problems.append("\(key): ttl \(ttl)")
            }
            switch type {
            case "string":
                let value = try await redis.send(RedisCommand("GET", key)).bytes ?? []
                check(value, entry["value"] ?? "", path: path)
            case "hash":
                let recorded = entry["value"] as? [String: Any] ?? [:]
                let pairs = try await redis.send(RedisCommand("HGETALL", key)).pairs ?? []
                var fields: [String: [UInt8]] = [:]
                for pair in pairs {
                    if let field = pair.key.string { fields[field] = pair.value.bytes ?? [] }
                }
                if Set(fields.keys) != Set(recorded.keys) {
                    problems.append("\(key): fields \(fields.keys.sorted()) ≠ \(recorded.keys.sorted())")
                }
                for (field, value) in fields {
                    if let theirs = recorded[field] { check(value, theirs, path: path + "/" + Self.pointer(field)) }
                }
            case "list", "set":
                let command = type == "list" ? RedisCommand("LRANGE", key, 0, -1) : RedisCommand("SMEMBERS", key)
                var elements = try await redis.send(command).array?.map { $0.bytes ?? [] } ?? []
                if type == "set" { elements.sort { $0.lexicographicallyPrecedes($1) } }
                let recorded = entry["value"] as? [Any] ?? []
                if elements.count != recorded.count {
                    problems.append("\(key): \(elements.count) elements ≠ \(recorded.count)")
                    continue
                }
                for (index, element) in elements.enumerated() {
                    check(element, recorded[index], path: path + "/\(index)")
                }
            case "zset":
                let reply = try await redis.send(RedisCommand("ZRANGE", key, 0, -1, "WITHSCORES"))
                var pairs: [([UInt8], Double)] = []
                if let items = reply.array {
                    if items.allSatisfy({ $0.array != nil }) {
                        pairs = items.compactMap { item in
                            guard let parts = item.array, parts.count == 2, let score = parts[1].double else {
                                return nil
                            }
                            return (parts[0].bytes ?? [], score)
                        }
                    } else {
                        pairs = stride(from: 0, to: items.count - 1, by: 2).map {
                            (items[$0].bytes ?? [], items[$0 + 1].double ?? .nan)
                        }
                    }
                }
                let recorded = entry["value"] as? [[Any]] ?? []
                if pairs.count != recorded.count {
                    problems.append("\(key): \(pairs.count) members ≠ \(recorded.count)")
                    continue
                }
                for (index, (member, score)) in pairs.enumerated() {
                    check(member, recorded[index][0], path: path + "/\(index)/0")
                    let theirs = (recorded[index][1] as? Double).map { String(Int64($0)) } ?? "?"
                    let ours = score.isFinite ? String(Int64(score)) : "\(score)"
                    check(Array(ours.utf8), theirs, path: path + "/\(index)/1")
                }
            default:
                problems.append("\(key): unexpected type \(type)")
            }
        }
        #expect(
            problems.isEmpty, "\(name) \(base):\n\(problems.joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    /// Text when the bytes are printable UTF-8, else hex.
    private static func render(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self),
            !text.unicodeScalars.contains(where: { $0.value < 0x20 })
        {
            return text
        }
        return "hex "
            + bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined()
    }

    /// A volatile value checked against our own start time: at most 2 s early, and at most 2 s
    /// plus the real time this replay has taken late (a loaded machine runs the steps slower
    /// than Go's recording did).
    private static func checkVolatile(
        _ ours: [UInt8], rule: (kind: String, offset: Double?), start: Date, path: String
    ) -> [String] {
        guard let offset = rule.offset else { return [] }
        let text = String(decoding: ours, as: UTF8.self)
        let elapsed = Date().timeIntervalSince(start)
        let scale: Double
        switch rule.kind {
        case "unix_s": scale = 1
        case "unix_ns": scale = 1e9
        default: return []
        }
        guard let value = Double(text) else { return ["\(path): \(text) is not a number"] }
        let expected = (start.timeIntervalSince1970 + offset) * scale
        let early = (expected - value) / scale
        let late = (value - expected) / scale
        return early <= 2 && late <= 2 + elapsed
            ? [] : ["\(path): \(value) not within [−2 s, +\(2 + elapsed) s] of \(expected)"]
    }
}
