import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import Logging
import Testing

// Wire compatibility with Go asynq v0.26, end to end: every scenario recorded from the real Go
// library in Tests/Fixtures/compat/ (see its README) is replayed with the Swift client, the real
// AsynqServer (`ServerScenarioDriver`), AsynqInspector and AsynqScheduler
// (`SchedulerScenarioDriver`), each scenario against its own redis-server, and the complete
// Redis state is compared with Go's after every recorded step, as are the values and errors
// Go's calls returned.
//
// The replay runs on a scripted clock: each step happens at the instant Go recorded for it,
// moved forward by a whole number of seconds (`CompatTimeline`), so times truncated to seconds
// must match exactly and nanosecond times within a millisecond.

@Suite("Compat replay: Redis state written by Go asynq, reproduced by Swift")
struct CompatReplayTests {
    static let fixtures: [CompatFixture] = {
        do {
            return try CompatFixture.loadAll(in: CompatFixture.directory(forTestFile: #filePath))
        } catch {
            Issue.record("could not load the compat fixtures: \(error)")
            return []
        }
    }()

    @Test("all 21 recorded scenarios are present")
    func fixturesArePresent() {
        #expect(Self.fixtures.count == 21)
        #expect(Set(Self.fixtures.map(\.name)) == Set(CompatScenarios.all.keys))
    }

    @Test("replays the recorded scenario", arguments: fixtures.map(\.name))
    func replay(_ name: String) async throws {
        let fixture = try #require(Self.fixtures.first { $0.name == name })
        let script = try #require(CompatScenarios.all[fixture.name], "no replay script for \(fixture.name)")
        try await withRedisServer { server in
            let redis = try RedisClient(options: server.connectionOptions())
            let replay = CompatReplay(fixture: fixture, redis: redis)
            do {
                try await script(replay)
                replay.expectEveryDumpChecked()
            } catch {
                await redis.close()
                throw error
            }
            await redis.close()
        }
    }
}

/// The replay of one scenario: clock, client, inspector, server and scheduler drivers, and the
/// checks against the fixture.
final class CompatReplay {
    enum Dump: Hashable, CustomStringConvertible {
        case main
        case snapshot(Int)

        var description: String {
            switch self {
            case .main: "main dump"
            case .snapshot(let index): "snapshot \(index)"
            }
        }
    }

    let fixture: CompatFixture
    let redis: RedisClient
    let clock: ScenarioClock
    let client: AsynqClient
    let inspector: AsynqInspector
    let server: ServerScenarioDriver
    let scheduler: SchedulerScenarioDriver
    private var comparator: DumpComparator
    private var checked: Set<Dump> = []

    init(fixture: CompatFixture, redis: RedisClient) {
        self.fixture = fixture
        self.redis = redis
        let timeline = CompatTimeline(fixture: fixture)
        let clock = ScenarioClock(timeline: timeline)
        self.clock = clock
        client = AsynqClient(
            redis: redis, ownsConnection: false, logger: Logger(label: "compat.\(fixture.name)"), now: { clock.now })
        inspector = AsynqInspector(redis: redis, ownsConnection: false, now: { clock.now })
        server = ServerScenarioDriver(redis: redis, clock: clock)
        scheduler = SchedulerScenarioDriver(redis: redis, clock: clock)
        comparator = DumpComparator(fixture: fixture, timeline: timeline)
        comparator.hostname = ServerIdentity.localHostname
        comparator.pid = Int(ProcessInfo.processInfo.processIdentifier)
    }

    // MARK: Clock

    /// Moves the clock to the Go time recorded at `pointer` (a volatile time of the fixture),
    /// plus `offset`.
    func at(_ pointer: String, plus offset: Duration = .zero) throws {
        clock.set(goUnixNanoseconds: try fixture.goTime(at: pointer) + Self.nanoseconds(offset))
    }

    /// Moves the clock to a time Go returned: `field` of the TaskInfo of `step`, plus `offset`.
    func atReturned(
        step: Int, index: Int = 0, _ field: String = "next_process_at", plus offset: Duration = .zero
    )
        throws
    {
        let entries = fixture.returned(step: step)
        guard entries.indices.contains(index), let text = entries[index]["task_info"]?[field]?.stringValue,
            let nanos = RFC3339.unixNanoseconds(text)
        else { throw ScenarioError("\(fixture.name): step \(step) returned no time \(field)") }
        clock.set(goUnixNanoseconds: nanos + Self.nanoseconds(offset))
    }

    /// Moves the clock to when the given dump was taken.
    func atDumpTime(_ dump: Dump) throws {
        guard let nanos = snapshot(dump).dump.takenAtUnixNanoseconds else {
            throw ScenarioError("\(fixture.name): \(dump) has no time")
        }
        clock.set(goUnixNanoseconds: nanos)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    // MARK: Client steps

    /// A `Client.Enqueue` of `step`; its result is checked against what Go returned.
    func enqueue(step: Int, _ task: AsynqTask, _ options: TaskOption...) async {
        let result: Result<TaskInfo?, any Error>
        do {
            result = .success(try await client.enqueue(task, options: options))
        } catch {
            result = .failure(error)
        }
        expectReturned(step: step, index: 0, result)
    }

    /// A `Client.BatchEnqueueContext` of `step`; each item is checked against Go's result.
    func enqueueBatch(
        step: Int, _ call: (AsynqClient) async throws -> [Result<TaskInfo, AsynqError>]
    ) async throws {
        let results = try await call(client)
        #expect(results.count == fixture.returned(step: step).count)
        for (index, result) in results.enumerated() {
            // Deliberate difference: Go reports an item whose ID already exists as a success
            // although nothing was written; we report `.taskIDConflict` for it. The Redis state
            // is the same either way (checked by the dump comparison).
            if case .failure(let error) = result, error == .taskIDConflict { continue }
            expectReturned(
                step: step, index: index, result.map { info -> TaskInfo? in info }.mapError { $0 as any Error })
        }
    }

    // MARK: Inspector steps

    /// An inspector call of `step`; a failure is checked against Go's error.
    func inspect(step: Int, _ body: (AsynqInspector) async throws -> Void) async {
        do {
            try await body(inspector)
            expectReturned(step: step, index: 0, .success(nil))
        } catch {
            expectReturned(step: step, index: 0, .failure(error))
        }
    }

    /// An `Inspector.GetTaskInfo` of `step`, checked against what Go returned.
    func taskInfo(step: Int, queue: String, id: String) async {
        let result: Result<TaskInfo?, any Error>
        do {
            result = .success(try await inspector.taskInfo(queue: queue, id: id))
        } catch {
            result = .failure(error)
        }
        expectReturned(step: step, index: 0, result)
    }

    /// A call of `step` whose non-task result (a count, a size) is checked against Go's.
    func expectResult(step: Int, _ value: Int) {
        let recorded = fixture.returned(step: step).first?["result"]?.int64Value
        #expect(
            recorded == Int64(value),
            "\(fixture.name), step \(step): \(value), Go returned \(String(describing: recorded))")
    }

    // MARK: Checks

    func snapshot(_ dump: Dump) -> CompatFixture.Snapshot {
        switch dump {
        case .main: fixture.main
        case .snapshot(let index): fixture.snapshots[index]
        }
    }

    /// Dumps Redis and compares it with the recorded `dump`: every difference is an issue.
    func check(_ dump: Dump) async throws {
        let recorded = snapshot(dump)
        let actual = try await RedisStateDump.capture(from: redis, renderer: AsynqProtobufRenderer())
        let differences = comparator.compare(recorded, with: actual)
        checked.insert(dump)
        let context = "\(fixture.name), \(dump) (\(recorded.label))"
        for difference in differences { Issue.record("\(context): \(difference)") }
    }

    func expectEveryDumpChecked() {
        let all = Set([Dump.main] + fixture.snapshots.indices.map { Dump.snapshot($0) })
        #expect(checked == all, "\(fixture.name): dumps not compared: \(all.subtracting(checked))")
    }

    /// Compares a Swift result with Go's `returned` entry for `step` / `index`: the same outcome,
    /// the same error (sentinel and text) and the same TaskInfo fields.
    func expectReturned(step: Int, index: Int, _ result: Result<TaskInfo?, any Error>) {
        let entries = fixture.returned(step: step)
        let what = "\(fixture.name), step \(step)" + (entries.count > 1 ? " item \(index)" : "")
        guard entries.indices.contains(index) else {
            Issue.record("\(what): Go recorded no result for this call")
            return
        }
        let goEntry = entries[index]
        let goError = goEntry["error"]?.stringValue
        switch (result, goError) {
        case (.success(let info), nil):
            if let info, let goInfo = goEntry["task_info"] { expectTaskInfo(info, matches: goInfo, what) }
        case (.success, let goError?):
            Issue.record("\(what): succeeded, Go failed with \(DumpJSON.string(goError))")
        case (.failure(let error), nil):
            Issue.record("\(what): failed with \(error), Go succeeded")
        case (.failure(let error), let goError?):
            if let sentinel = goEntry["error_is"]?.stringValue, let code = Self.sentinels[sentinel] {
                #expect(error.isAsynqError(code), "\(what): Go failed with \(sentinel), Swift with \(error)")
            }
            let text = (error as? AsynqError)?.message ?? "\(error)"
            if text != goError {
                Issue.record("\(what): error text \(DumpJSON.string(text)), Go \(DumpJSON.string(goError))")
            }
        }
    }

    static func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

    static let sentinels: [String: AsynqError.Code] = [
        "asynq.ErrDuplicateTask": .duplicateTask,
        "asynq.ErrTaskIDConflict": .taskIDConflict,
        "asynq.ErrTaskNotFound": .taskNotFound,
        "asynq.ErrQueueNotFound": .queueNotFound,
    ]

    private func expectTaskInfo(_ info: TaskInfo, matches go: DumpJSON, _ what: String) {
        func expectField(_ name: String, _ ours: DumpJSON, _ theirs: DumpJSON?) {
            let theirs = theirs ?? .null
            if ours != theirs { Issue.record("\(what): TaskInfo.\(name) is \(ours), Go returned \(theirs)") }
        }
        expectField("id", .string(info.id), go["id"])
        expectField("queue", .string(info.queue), go["queue"])
        expectField("type", .string(info.type), go["type"])
        expectField("state", .string(info.state.description), go["state"])
        expectField("max_retry", .integer(Int64(info.maxRetry)), go["max_retry"])
        expectField("retried", .integer(Int64(info.retried)), go["retried"])
        expectField("last_err", .string(info.lastError), go["last_err"])
        expectField("timeout_s", .integer(info.timeout.components.seconds), go["timeout_s"])
        expectField("retention_s", .integer(info.retention.components.seconds), go["retention_s"])
        expectField("group", .string(info.group ?? ""), go["group"])
        expectField(
            "headers", info.headers.isEmpty ? .null : .object(info.headers.mapValues { .string($0) }), go["headers"])
        // nil (no payload) and an empty payload are told apart, as Go's `null` and `""`.
        expectField("payload_hex", info.payload.map { .string(Self.hex($0)) } ?? .null, go["payload_hex"])
        expectField("result_hex", info.result.map { .string(Self.hex($0)) } ?? .null, go["result_hex"])
        expectField("is_orphaned", .bool(info.isOrphaned), go["is_orphaned"] ?? .bool(false))
        // Times in whole seconds that Go read from its clock: the replay's clock runs `shift`
        // seconds later.
        for (name, ours) in [("completed_at", info.completedAt), ("last_failed_at", info.lastFailedAt)] {
            let theirs = go[name]?.stringValue.flatMap(RFC3339.unixNanoseconds).map {
                DumpJSON.integer($0 / 1_000_000_000 + clock.timeline.shiftSeconds)
            }
            expectField(
                "\(name) (Unix s, shifted)",
                ours.map { .integer(Int64($0.timeIntervalSince1970.rounded(.down))) } ?? .null,
                theirs)
        }
        let deadline = info.deadline.map { DumpJSON.integer(Int64($0.timeIntervalSince1970.rounded(.down))) } ?? .null
        let goDeadline = go["deadline"]?.stringValue.flatMap(RFC3339.unixNanoseconds).map {
            DumpJSON.integer($0 / 1_000_000_000)
        }
        expectField("deadline (Unix s)", deadline, goDeadline)
        // Times Go read from its clock: the replay's clock runs `shift` seconds later.
        let goNext = go["next_process_at"]?.stringValue.flatMap(RFC3339.unixNanoseconds)
        switch (info.nextProcessAt, goNext) {
        case (nil, nil): break
        case (let ours?, let theirs?):
            let expected = Double(theirs) / 1e9 + Double(clock.timeline.shiftSeconds)
            let offBy = ours.timeIntervalSince1970 - expected
            if abs(offBy) > 0.01 {
                Issue.record(
                    "\(what): TaskInfo.next_process_at is \(offBy) s off Go's (shifted) \(go["next_process_at"] ?? .null)"
                )
            }
        case (let ours, _):
            Issue.record(
                "\(what): TaskInfo.next_process_at is \(String(describing: ours)), Go returned \(go["next_process_at"] ?? .null)"
            )
        }
    }
}

// MARK: - Scenario scripts

/// One replay script per fixture, following the fixture's `steps`. Step numbers are the
/// fixture's (step 1 is the FLUSHALL: every replay starts on a fresh redis-server).
enum CompatScenarios {
    typealias Script = @Sendable (CompatReplay) async throws -> Void

    static let emailType = "email:deliver"
    static let emailPayload = #"{"user_id":42,"template_id":"some:template:id"}"#
    static var email: AsynqTask { AsynqTask(type: emailType, payload: emailPayload) }
    static let deadline2030 = Date(timeIntervalSince1970: 1_893_456_000)

    static let all: [String: Script] = [
        "01-enqueue-defaults": { r in
            try r.at("/redis/asynq:{default}:t:t-default/value/pending_since")
            await r.enqueue(step: 3, email, .taskID("t-default"))
            try await r.check(.main)
        },
        "02-enqueue-all-options": { r in
            try r.at("/redis/asynq:{critical}:t:t-all/value/pending_since")
            await r.enqueue(
                step: 3, email, .queue("critical"), .maxRetry(7), .timeout(.seconds(90)), .deadline(deadline2030),
                .retention(.seconds(7200)), .header("trace", "abc"), .taskID("t-all"))
            try await r.check(.main)
        },
        "03-process-in-scheduled": { r in
            try r.atReturned(step: 3, plus: .seconds(-3600))
            await r.enqueue(step: 3, email, .processIn(.seconds(3600)), .taskID("t-scheduled"))
            try await r.check(.main)
        },
        "04-unique-duplicate": { r in
            try r.at("/redis/asynq:{default}:t:t-unique-1/value/pending_since")
            await r.enqueue(step: 3, email, .unique(ttl: .seconds(3600)), .taskID("t-unique-1"))
            await r.enqueue(step: 4, email, .unique(ttl: .seconds(3600)), .taskID("t-unique-2"))
            try await r.check(.main)
        },
        "05-taskid-conflict": { r in
            try r.at("/redis/asynq:{default}:t:t-dup/value/pending_since")
            await r.enqueue(step: 3, email, .taskID("t-dup"))
            await r.enqueue(
                step: 4, AsynqTask(type: emailType, payload: #"{"user_id":43,"template_id":"other"}"#), .taskID("t-dup")
            )
            try await r.check(.main)
        },
        "06-group-aggregating": { r in
            for item in 1...3 {
                try r.at("/redis/asynq:{default}:g:g1/value/\(item - 1)/1")
                await r.enqueue(
                    step: item + 2, AsynqTask(type: "notify:digest", payload: #"{"item":\#(item)}"#), .group("g1"),
                    .taskID("t-g1-\(item)"))
            }
            try await r.check(.main)
        },
        "07-completed-with-result": { r in
            try r.atReturned(step: 3)
            await r.enqueue(step: 3, email, .retention(.seconds(3600)), .taskID("t-complete"))
            try r.at(
                "/snapshots/0/redis/asynq:servers:{vm:7967:0f30a657-f653-4998-a9cd-790096696a25}/value/decoded/start_time"
            )
            try await r.server.start(ServerConfiguration())
            try r.atDumpTime(.snapshot(0))
            let task = try await r.server.startProcessing(queue: "default")
            let written = try await r.server.writeResult(task, Data(#"{"status":"sent","message_id":"m-1"}"#.utf8))
            r.expectResult(step: 5, written)
            try await r.server.finish(task, .success)
            // Go's snapshot holds the beat written at start (Go finished the task 12 ms later). A
            // beat now writes exactly that state again (nothing runs, same second), whereas a
            // regular beat that fell while the handler ran (5 s pass on a loaded machine) would
            // still list the finished task.
            try await r.server.heartbeat()
            try await r.check(.snapshot(0))
            try await r.server.stop()
            await r.taskInfo(step: 8, queue: "default", id: "t-complete")
            try await r.check(.main)
        },
        "08-retry-after-failure": { r in
            try r.atReturned(step: 3)
            await r.enqueue(step: 3, email, .maxRetry(3), .taskID("t-retry"))
            try await r.server.start(ServerConfiguration(retryDelay: .seconds(3600)))
            try r.atDumpTime(.main)
            let task = try await r.server.startProcessing(queue: "default")
            try await r.server.finish(task, .failure("smtp: connection timed out"))
            try await r.server.stop()
            await r.taskInfo(step: 7, queue: "default", id: "t-retry")
            try await r.check(.main)
        },
        "09-skip-retry-archived": { r in
            try r.atReturned(step: 3)
            await r.enqueue(step: 3, email, .taskID("t-skip"))
            try await r.server.start(ServerConfiguration())
            try r.atDumpTime(.main)
            let task = try await r.server.startProcessing(queue: "default")
            try await r.server.finish(task, .skipRetry(reason: "invalid recipient"))
            try await r.server.stop()
            await r.taskInfo(step: 7, queue: "default", id: "t-skip")
            try await r.check(.main)
        },
        "10-maxretry-zero-archived": { r in
            try r.atReturned(step: 3)
            await r.enqueue(step: 3, email, .maxRetry(0), .taskID("t-noretry"))
            try await r.server.start(ServerConfiguration())
            try r.atDumpTime(.main)
            let task = try await r.server.startProcessing(queue: "default")
            try await r.server.finish(task, .failure("permanent failure"))
            try await r.server.stop()
            try await r.check(.main)
        },
        "11-pause-queue": { r in
            try r.at("/redis/asynq:{default}:t:t-paused-1/value/pending_since")
            await r.enqueue(step: 3, email, .taskID("t-paused-1"))
            try r.at("/redis/asynq:{default}:paused/value")
            await r.inspect(step: 5) { try await $0.pause(queue: "default") }
            await r.inspect(step: 6) { try await $0.pause(queue: "default") }
            let info = try await r.inspector.queueInfo("default")
            let go = r.fixture.returned(step: 7).first?["result"]
            #expect(go?["queue"] == .string(info.queue) && go?["paused"] == .bool(info.paused))
            #expect(go?["pending"] == .integer(Int64(info.pending)) && go?["size"] == .integer(Int64(info.size)))
            try await r.check(.main)
        },
        "12-active-task-server-state": { r in
            let serverKey = "asynq:servers:{vm:7967:41dc0173-061b-410e-8eba-ed36879d5107}"
            let workersKey = "asynq:workers:{vm:7967:41dc0173-061b-410e-8eba-ed36879d5107}"
            try r.atReturned(step: 3)
            await r.enqueue(
                step: 3, AsynqTask(type: "report:generate", payload: #"{"report":"monthly"}"#), .taskID("t-active"))
            try r.at("/redis/\(serverKey)/value/decoded/start_time")
            try await r.server.start(
                ServerConfiguration(concurrency: 2, queues: ["critical": 6, "default": 3, "low": 1]))
            try r.at("/redis/\(workersKey)/value/t-active/decoded/start_time")
            let task = try await r.server.startProcessing(queue: "default")
            // The second heartbeat, just before the dump: it lists the worker and extends the lease.
            try r.atDumpTime(.main)
            try await r.server.heartbeat()
            try await r.check(.main)
            try r.atDumpTime(.snapshot(0))
            try await r.server.finish(task, .success)
            try await r.server.stop()
            try await r.check(.snapshot(0))
        },
        "13-scheduler-fired": { r in
            let options: [TaskOption] = [.queue("default"), .maxRetry(2), .timeout(.seconds(60))]
            let entry = SchedulerEntrySpec(
                spec: "@every 1s", task: AsynqTask(type: "cron:tick", payload: #"{"source":"cron"}"#), options: options)
            expectOptionStrings(r, options)
            try await r.scheduler.start(entries: [entry], heartbeatInterval: .seconds(1))
            try r.at("/redis/asynq:{default}:t:9226ffe5-81b2-4fb5-86db-3bfcbd108fc3/value/pending_since")
            try await r.scheduler.fireEntry(0)
            // The first heartbeat came one interval after the start, just before the dump.
            try r.atDumpTime(.main)
            try await r.scheduler.heartbeat()
            try await r.check(.main)
            try await r.scheduler.stop()
            try await r.check(.snapshot(0))
        },
        "14-batch-enqueue": { r in
            try r.at("/redis/asynq:{default}:t:t-b2/value/pending_since")
            await r.enqueue(step: 3, AsynqTask(type: "batch:item", payload: "pre-existing"), .taskID("t-b2"))
            try r.at("/redis/asynq:{default}:t:t-b1/value/pending_since")
            func item(_ payload: String, _ options: TaskOption...) -> AsynqTask {
                AsynqTask(type: "batch:item", payload: payload, options: options)
            }
            let items = [
                item("one", .taskID("t-b1")), item("two", .taskID("t-b2")), item("one again", .taskID("t-b1")),
                item("three", .taskID("t-b3"), .processIn(.seconds(3600))), item("four", .taskID("t-b4"), .group("g1")),
            ]
            try await r.enqueueBatch(step: 4) { client in try await client.enqueueBatch(items, .maxRetry(5)) }
            try await r.check(.main)
        },
        "15-inspector-ops": { r in
            for (step, id) in [(3, "t-p1"), (4, "t-p2"), (5, "t-p3")] {
                try r.at("/snapshots/0/redis/asynq:{default}:t:\(id)/value/pending_since")
                await r.enqueue(step: step, email, .taskID(id))
            }
            try r.atReturned(step: 6, plus: .seconds(-3600))
            await r.enqueue(step: 6, email, .processIn(.seconds(3600)), .taskID("t-s1"))
            try await r.check(.snapshot(0))
            try r.at("/snapshots/1/redis/asynq:{default}:archived/value/0/1")
            await r.inspect(step: 8) { try await $0.archiveTask(queue: "default", id: "t-p1") }
            try await r.check(.snapshot(1))
            await r.inspect(step: 9) {
                r.expectResult(step: 9, try await $0.deleteAll(queue: "default", state: .pending))
            }
            try await r.check(.snapshot(2))
            await r.inspect(step: 10) { try await $0.runTask(queue: "default", id: "t-s1") }
            try await r.check(.snapshot(3))
            await r.inspect(step: 11) { try await $0.runTask(queue: "default", id: "t-s1") }
            await r.inspect(step: 12) { try await $0.archiveTask(queue: "default", id: "no-such-task") }
            await r.inspect(step: 13) { try await $0.archiveTask(queue: "default", id: "t-p1") }
            await r.inspect(step: 14) { try await $0.runTask(queue: "nosuchqueue", id: "t-p1") }
            try await r.check(.main)
        },
        "16-group-aggregated": { r in
            for item in 1...3 {
                try r.at("/snapshots/0/redis/asynq:{default}:g:g1/value/\(item - 1)/1")
                await r.enqueue(
                    step: item + 2, AsynqTask(type: "notify:digest", payload: #"{"item":\#(item)}"#), .group("g1"),
                    .taskID("t-g1-\(item)"))
            }
            try r.at("/snapshots/0/redis/asynq:{default}:paused/value")
            try await r.inspector.pause(queue: "default")
            try await r.check(.snapshot(0))
            var configuration = ServerConfiguration(groupGracePeriod: .seconds(1), groupMaxSize: 3)
            configuration.aggregator = { group, tasks in
                AsynqTask(
                    type: "notify:digest:aggregated",
                    payload: Data(tasks.map { $0.payload ?? Data() }.joined(separator: Data("\n".utf8))),
                    options: [.taskID("t-agg-\(group)")])
            }
            // The aggregator's first check (1 s after the start, as in Go) finds the group full;
            // the clock is already at the time Go enqueued the aggregated task.
            try r.at("/redis/asynq:{default}:t:t-agg-g1/value/pending_since")
            try await r.server.start(configuration)
            try await r.server.aggregate(queue: "default", group: "g1")
            try await r.server.stop()
            try await r.inspector.unpause(queue: "default")
            await r.taskInfo(step: 11, queue: "default", id: "t-agg-g1")
            try await r.check(.main)
        },
        "17-scheduler-registered": { r in
            let options: [TaskOption] = [
                .queue("low"), .maxRetry(5), .timeout(.seconds(90)), .deadline(deadline2030),
                .unique(ttl: .seconds(3600)), .retention(.seconds(86400)), .group("g-cron"), .header("source", "cron"),
                .processIn(.seconds(300)), .taskID("cron-task"),
            ]
            let entry = SchedulerEntrySpec(
                spec: "@every 30s", task: AsynqTask(type: "cron:tick", payload: #"{"source":"cron"}"#), options: options
            )
            expectOptionStrings(r, options)
            try r.at("/redis/asynq:schedulers/value/0/1", plus: .seconds(-3))
            try await r.scheduler.start(entries: [entry], heartbeatInterval: .seconds(1))
            try r.at("/redis/asynq:schedulers/value/0/1", plus: .seconds(-2))
            try await r.scheduler.heartbeat()
            try await r.check(.main)
            try await r.scheduler.stop()
            try await r.check(.snapshot(0))
        },
        "18-unique-variants": { r in
            try r.atReturned(step: 3, plus: .seconds(-1800))
            let lockSet = ContinuousClock.now
            await r.enqueue(
                step: 3, email, .processIn(.seconds(1800)), .unique(ttl: .seconds(3600)), .taskID("t-uniq-sched"))
            try r.at("/redis/asynq:{default}:t:t-uniq-nil/value/pending_since")
            await r.enqueue(step: 4, AsynqTask(type: "ping"), .unique(ttl: .seconds(600)), .taskID("t-uniq-nil"))
            try r.at("/redis/asynq:{default}:t:t-uniq-empty/value/pending_since")
            await r.enqueue(
                step: 5, AsynqTask(type: "ping", payload: Data()), .unique(ttl: .seconds(600)), .taskID("t-uniq-empty"))
            try await r.check(.main)
            // The TTL tolerance of the dump comparison would hide a lock one second longer than
            // Go's: Go's EX is 5399 (not 5400), so the remaining TTL is at most 5399 s.
            let lock = "asynq:{default}:unique:email:deliver:385de87a2a7f4a88192a4d1cd4735e1e"
            let remaining = try await r.redis.pttl(lock)
            let elapsed = ContinuousClock.now - lockSet
            let elapsedMilliseconds =
                Int(elapsed.components.seconds) * 1000 + Int(elapsed.components.attoseconds / 1_000_000_000_000_000)
            #expect(
                remaining <= 5_399_000 && remaining >= 5_398_000 - elapsedMilliseconds,
                "scheduled unique lock TTL \(remaining) ms, \(elapsed) after the enqueue")
        },
        "19-headers-merge": { r in
            try r.at("/redis/asynq:{default}:t:t-headers/value/pending_since")
            await r.enqueue(
                step: 3, AsynqTask(type: emailType, payload: emailPayload, headers: ["a": "1", "b": "2"]),
                .header("b", "override"), .header("c", "3"), .taskID("t-headers"))
            try await r.check(.main)
        },
        "20-done-no-retention": { r in
            try r.atReturned(step: 3)
            await r.enqueue(step: 3, email, .taskID("t-done"))
            try await r.server.start(ServerConfiguration())
            try r.atDumpTime(.main)
            let task = try await r.server.startProcessing(queue: "default")
            try await r.server.finish(task, .success)
            try await r.server.stop()
            try await r.check(.main)
        },
        "21-forwarded-scheduled": { r in
            try r.atReturned(step: 3, plus: .seconds(-1))
            await r.enqueue(step: 3, email, .processIn(.seconds(1)), .taskID("t-fwd"))
            try r.at("/snapshots/0/redis/asynq:{default}:paused/value")
            try await r.inspector.pause(queue: "default")
            try await r.check(.snapshot(0))
            try await r.server.start(ServerConfiguration(delayedTaskCheckInterval: .milliseconds(200)))
            try r.at("/redis/asynq:{default}:t:t-fwd/value/pending_since")
            try await r.server.forwardDueTasks(queue: "default")
            try await r.server.stop()
            try await r.inspector.unpause(queue: "default")
            try await r.check(.main)
        },
    ]

    /// The string forms of scheduler-entry options (`SchedulerEntry.enqueue_options`) must be
    /// Go's, whoever writes the entry.
    static func expectOptionStrings(_ r: CompatReplay, _ options: [TaskOption]) {
        let entryKeys = r.fixture.main.dump.keys.filter { $0.hasPrefix("asynq:schedulers:{") }
        for key in entryKeys {
            let pointer = "/redis/" + JSONPointer.escape(key) + "/value/0/decoded/enqueue_options"
            let recorded = r.fixture.value(at: pointer)?.arrayValue?.compactMap(\.stringValue)
            #expect(options.map(\.description) == recorded, "\(r.fixture.name): option strings")
        }
        #expect(!entryKeys.isEmpty, "\(r.fixture.name): no scheduler entry recorded")
    }
}

// MARK: - The comparison itself

/// The comparison must find what the replays rely on it to find.
@Suite("Compat replay: the dump comparison itself")
struct CompatReplayDumpComparisonTests {
    static func fixture(_ name: String) throws -> CompatFixture {
        try #require(CompatReplayTests.fixtures.first { $0.name == name })
    }

    static func comparator(_ fixture: CompatFixture, shift: Int64 = 0) -> DumpComparator {
        DumpComparator(
            fixture: fixture,
            timeline: CompatTimeline(goStartUnixNanoseconds: fixture.startedAtUnixNanoseconds, shiftSeconds: shift))
    }

    @Test("every recorded dump equals itself", arguments: CompatReplayTests.fixtures.map(\.name))
    func selfComparison(_ name: String) throws {
        let fixture = try Self.fixture(name)
        var comparator = Self.comparator(fixture)
        for snapshot in [fixture.main] + fixture.snapshots {
            #expect(comparator.compare(snapshot, with: snapshot.dump).map(\.description) == [], "\(snapshot.label)")
        }
    }

    @Test("missing and extra keys")
    func keys() throws {
        let fixture = try Self.fixture("01-enqueue-defaults")
        var dump = fixture.main.dump
        let queues = dump.entries.removeValue(forKey: "asynq:queues")
        dump.entries["asynq:{default}:extra"] = queues
        var comparator = Self.comparator(fixture)
        let differences = comparator.compare(fixture.main, with: dump)
        #expect(differences.map(\.kind) == [.missingKey, .extraKey])
        #expect(differences.map(\.key) == ["asynq:queues", "asynq:{default}:extra"])
    }

    @Test("protobuf bytes, decoded fields and hash fields")
    func values() throws {
        let fixture = try Self.fixture("01-enqueue-defaults")
        let key = "asynq:{default}:t:t-default"
        var dump = fixture.main.dump
        guard case .hash(var fields)? = dump.entries[key]?.value, case .protobuf(var message)? = fields["msg"],
            case .object(var decoded)? = message.decoded
        else {
            Issue.record("unexpected fixture shape")
            return
        }
        message.bytes[message.bytes.count - 1] ^= 1
        decoded["retry"] = .integer(24)
        message.decoded = .object(decoded)
        fields["msg"] = .protobuf(message)
        fields["state"] = nil
        dump.entries[key]?.value = .hash(fields)
        var comparator = Self.comparator(fixture)
        let differences = comparator.compare(fixture.main, with: dump)
        #expect(differences.map(\.kind) == [.encodingDiffers, .valueDiffers, .missingField])
        #expect(differences.map(\.path) == ["/value/msg/hex", "/value/msg/decoded/retry", "/value/state"])
    }

    @Test("times: exact seconds, nanoseconds within a millisecond, moved by the shift")
    func times() throws {
        let fixture = try Self.fixture("15-inspector-ops")
        let snapshot = fixture.snapshots[1]
        var dump = snapshot.dump
        // Everything one second later, as a replay shifted by one second writes it…
        func shifted(_ element: RedisStateDump.Element, by nanos: Int64) -> RedisStateDump.Element {
            guard case .text(let text) = element, let value = Int64(text) else { return element }
            return .text(String(value + nanos))
        }
        for (key, entry) in dump.entries {
            switch entry.value {
            case .zset(let members):
                dump.entries[key]?.value = .zset(members.map { .init(member: $0.member, score: $0.score + 1) })
            case .hash(var fields):
                fields["pending_since"] = fields["pending_since"].map { shifted($0, by: 1_000_000_000) }
                dump.entries[key]?.value = .hash(fields)
            default: break
            }
        }
        var comparator = Self.comparator(fixture, shift: 1)
        #expect(comparator.compare(snapshot, with: dump).map(\.description) == [])
        // …but not another second later, nor 2 ms later.
        dump.entries["asynq:{default}:archived"]?.value = .zset([
            .init(
                member: .text("t-p1"),
                score: try #require(
                    fixture.value(at: "/snapshots/1/redis/asynq:{default}:archived/value/0/1")?.doubleValue) + 2)
        ])
        let taskKey = "asynq:{default}:t:t-p2"
        guard case .hash(var fields)? = dump.entries[taskKey]?.value, let since = fields["pending_since"] else {
            Issue.record("unexpected fixture shape")
            return
        }
        fields["pending_since"] = shifted(since, by: 2_000_000)
        dump.entries[taskKey]?.value = .hash(fields)
        let differences = comparator.compare(snapshot, with: dump)
        #expect(differences.map(\.kind) == [.scoreDiffers, .valueDiffers])
        #expect(differences.map(\.path) == ["/value/0/1", "/value/pending_since"])
    }

    @Test("TTLs: nominal for EX keys, expiry instant for EXPIREAT keys")
    func ttls() throws {
        let unique = try Self.fixture("04-unique-duplicate")
        let lock = "asynq:{default}:unique:email:deliver:385de87a2a7f4a88192a4d1cd4735e1e"
        var dump = unique.main.dump
        dump.entries[lock]?.ttlMilliseconds = 3_597_000
        var comparator = Self.comparator(unique)
        #expect(comparator.compare(unique.main, with: dump).map(\.kind) == [.ttlDiffers])
        dump.entries[lock]?.ttlMilliseconds = -1
        #expect(comparator.compare(unique.main, with: dump).map(\.kind) == [.ttlDiffers])

        let counters = try Self.fixture("20-done-no-retention")
        let daily = try #require(counters.main.dump.keys.first { $0.contains(":processed:") })
        var later = counters.main.dump
        // Dumped 10 s later: 10 s less TTL, same expiry instant.
        later.takenAtUnixNanoseconds = later.takenAtUnixNanoseconds.map { $0 + 10_000_000_000 }
        later.entries[daily]?.ttlMilliseconds -= 10_000
        var counterComparator = Self.comparator(counters)
        #expect(counterComparator.compare(counters.main, with: later).map(\.description) == [])
        later.entries[daily]?.ttlMilliseconds += 5_000
        #expect(counterComparator.compare(counters.main, with: later).map(\.kind) == [.ttlDiffers])
    }

    @Test("volatile key names match their pattern and random IDs map consistently")
    func keyNamesAndIDs() throws {
        let fixture = try Self.fixture("13-scheduler-fired")
        let goID = "9226ffe5-81b2-4fb5-86db-3bfcbd108fc3"
        let ourID = "0e2d3c4b-5a69-4788-9aab-bccddeeff001"
        func replaced(_ dump: RedisStateDump, id: String, pendingID: String) -> RedisStateDump {
            var copy = dump
            let goKey = "asynq:{default}:t:\(goID)"
            guard let entry = copy.entries.removeValue(forKey: goKey) else { return copy }
            var renamed = entry
            if case .hash(var fields) = entry.value, case .protobuf(var message)? = fields["msg"],
                case .object(var decoded)? = message.decoded
            {
                decoded["id"] = .string(id)
                message.decoded = .object(decoded)
                fields["msg"] = .protobuf(message)
                renamed.value = .hash(fields)
            }
            copy.entries["asynq:{default}:t:\(id)"] = renamed
            copy.entries["asynq:{default}:pending"]?.value = .list([.text(pendingID)])
            return copy
        }
        var comparator = Self.comparator(fixture)
        let snapshot = fixture.snapshots[0]
        #expect(comparator.compare(snapshot, with: replaced(snapshot.dump, id: ourID, pendingID: ourID)).isEmpty)
        #expect(comparator.uuidMapping[goID] == ourID)
        let inconsistent = comparator.compare(
            snapshot, with: replaced(snapshot.dump, id: ourID, pendingID: "11111111-2222-4333-8444-555555555555"))
        #expect(inconsistent.map(\.path) == ["/value/0"])
        #expect(
            KeyPattern.matches(
                "asynq:{default}:processed:2027-01-31", pattern: "asynq:{default}:processed:<YYYY-MM-DD>"))
        #expect(
            !KeyPattern.matches("asynq:{default}:processed:today", pattern: "asynq:{default}:processed:<YYYY-MM-DD>"))
        #expect(
            KeyPattern.matches(
                "asynq:servers:{host-1:4242:\(ourID)}", pattern: "asynq:servers:{<hostname>:<pid>:<server uuid>}"))
    }
}
