import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import Logging
import Testing

// PeriodicTaskManager with YAMLFileConfigProvider against a real redis-server on a manual
// clock: the file is edited between syncs and the running entries follow it.

private func writeFile(_ path: String, _ text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
}

private func temporaryYAMLPath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("periodic-\(UUID().uuidString).yaml").path
}

private struct Registered: Hashable, CustomStringConvertible {
    var spec: String
    var type: String
    var options: [String]
    var description: String { "\(spec) \(type) \(options)" }
}

private func registered(_ manager: PeriodicTaskManager) -> Set<Registered> {
    Set(
        manager.scheduler.entries.map {
            Registered(spec: $0.spec, type: $0.task.type, options: $0.options.map(\.description))
        })
}

@Suite("PeriodicTaskManager")
struct PeriodicTaskManagerTests {
    @Test("loads the YAML file, follows edits without a restart, survives bad entries and bad YAML")
    func followsTheFile() async throws {
        let path = temporaryYAMLPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeFile(
            path,
            """
            tasks:
              - cronspec: "*/5 * * * *"
                task_type: email:digest
                payload: '{"list":"daily"}'
                options: { queue: low, max_retry: 3, timeout: 30s }
              - cronspec: "@hourly"
                task_type: report:hourly
            """)
        try await withSchedulerRedis { _, redis in
            let clock = ManualSchedulerClock(now: .testInstant(30))
            let logs = CapturedLogs()
            let manager = try PeriodicTaskManager(
                redis: redis, provider: YAMLFileConfigProvider(path: path),
                configuration: .init(
                    scheduler: .init(heartbeatInterval: .seconds(10), logger: logs.logger), syncInterval: .seconds(60)),
                clock: clock)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await manager.run() }
                // heartbeat + two entries + the sync loop
                try await clock.waitForSleepers(4)
                #expect(
                    registered(manager) == [
                        Registered(
                            spec: "*/5 * * * *", type: "email:digest",
                            options: [#"Queue("low")"#, "MaxRetry(3)", "Timeout(30s)"]),
                        Registered(spec: "@hourly", type: "report:hourly", options: []),
                    ])
                clock.advance(to: .testInstant(300))
                try await clock.waitForSleepers(4)
                let digest = try #require(try await SchedulerRedis.pendingMessages(redis, queue: "low").first)
                #expect(digest.message.type == "email:digest")
                #expect(digest.message.payload == Data(#"{"list":"daily"}"#.utf8))
                #expect(digest.message.retry == 3)
                let hourlyID = try #require(manager.scheduler.entries.first { $0.task.type == "report:hourly" }?.id)

                // Edit: change the digest's queue, keep the hourly report, add a new task.
                try writeFile(
                    path,
                    """
                    tasks:
                      - cronspec: "*/5 * * * *"
                        task_type: email:digest
                        payload: '{"list":"daily"}'
                        options: { queue: critical, max_retry: 3, timeout: 30s }
                      - cronspec: "@hourly"
                        task_type: report:hourly
                      - cronspec: "*/10 * * * *"
                        task_type: cleanup
                    """)
                clock.advance(to: .testInstant(360))  // the next sync: one interval after the one at 00:05:00
                try await clock.waitForSleepers(5)
                #expect(
                    registered(manager) == [
                        Registered(
                            spec: "*/5 * * * *", type: "email:digest",
                            options: [#"Queue("critical")"#, "MaxRetry(3)", "Timeout(30s)"]),
                        Registered(spec: "@hourly", type: "report:hourly", options: []),
                        Registered(spec: "*/10 * * * *", type: "cleanup", options: []),
                    ])
                // The unchanged entry was left alone (same ID).
                #expect(manager.scheduler.entries.contains { $0.id == hourlyID })
                clock.advance(to: .testInstant(600))
                try await clock.waitForSleepers(5)
                #expect(
                    try await SchedulerRedis.pendingMessages(redis, queue: "critical").map(\.message.type) == [
                        "email:digest"
                    ])
                #expect(try await SchedulerRedis.pendingMessages(redis).map(\.message.type) == ["cleanup"])
                #expect(try await SchedulerRedis.pendingIDs(redis, queue: "low").count == 1)

                // One entry with a bad spec: it is logged, the others are applied.
                try writeFile(
                    path,
                    """
                    tasks:
                      - cronspec: "@hourly"
                        task_type: report:hourly
                      - cronspec: "61 * * * *"
                        task_type: broken
                    """)
                clock.advance(to: .testInstant(660))
                try await clock.waitForSleepers(3)
                #expect(registered(manager) == [Registered(spec: "@hourly", type: "report:hourly", options: [])])
                #expect(
                    logs.contains(
                        #"Failed to register periodic task config[1] (cronspec "61 * * * *", task "broken"): minute field: "#
                    ), "\(logs.all)")

                // Bad YAML: the round is skipped, the running entries stay.
                try writeFile(path, "tasks:\n  - cronspec: \"@daily\"\n    task_type: [unclosed\n")
                clock.advance(to: .testInstant(720))
                try await clock.waitForSleepers(3)
                #expect(registered(manager) == [Registered(spec: "@hourly", type: "report:hourly", options: [])])
                let yamlError = logs.all.first { $0.contains("Periodic task config provider failed") }
                #expect(yamlError?.contains("\(path):") == true, "\(logs.all)")
                #expect(yamlError?.contains("invalid YAML") == true, "\(logs.all)")

                // An invalid field: the round is skipped with an error naming the entry and field.
                try writeFile(
                    path,
                    """
                    tasks:
                      - cronspec: "@hourly"
                        task_type: report:hourly
                        options: { timeout: 30 parsecs }
                    """)
                clock.advance(to: .testInstant(780))
                try await clock.waitForSleepers(3)
                #expect(registered(manager) == [Registered(spec: "@hourly", type: "report:hourly", options: [])])
                #expect(logs.contains("\(path):4:"), "\(logs.all)")
                #expect(logs.contains("tasks[0].options.timeout: invalid duration"), "\(logs.all)")

                await manager.shutdown()
                try await group.waitForAll()
            }
            // Shutdown removed the entries and the history of the entries still registered (the
            // hourly report never fired); as in Go, the history of unregistered entries stays.
            #expect(try await SchedulerRedis.keys(redis, matching: "asynq:schedulers*").isEmpty)
            #expect(
                try await SchedulerRedis.keys(redis, matching: "asynq:scheduler_history:*").count == 3)
        }
    }

    @Test("run fails when the first load fails")
    func firstLoadFails() async throws {
        let path = temporaryYAMLPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeFile(path, "tasks:\n  - cronspec: \"@daily\"\n")
        try await withSchedulerRedis { _, redis in
            let manager = try PeriodicTaskManager(
                redis: redis, provider: YAMLFileConfigProvider(path: path),
                configuration: .init(scheduler: .init(logger: CapturedLogs().logger)),
                clock: ManualSchedulerClock(now: .testInstant()))
            let error = await #expect(throws: AsynqError.self) { try await manager.run() }
            #expect(error?.description.contains("tasks[0].task_type: missing") == true, "\(String(describing: error))")
        }
    }

    @Test("config hash as Go computes it")
    func configHash() {
        let config = PeriodicTaskConfig(
            cronspec: "*/5 * * * *", task: AsynqTask(type: "email:digest", payload: #"{"list":"daily"}"#),
            options: [.queue("low"), .maxRetry(3), .timeout(.seconds(30))])
        // sha256("*/5 * * * *" + "email:digest" + payload + sorted option strings)
        #expect(config.hash == "e4502837ccaa07e68752e679c782419e4c18e9410fd6d1f8b9e4813cd26298a7")
        // Option order does not matter; the task's own options and headers are not part of it.
        var reordered = config
        reordered.options = [.timeout(.seconds(30)), .queue("low"), .maxRetry(3)]
        reordered.task.headers = ["a": "b"]
        reordered.task.options = [.retention(.seconds(60))]
        #expect(reordered.hash == config.hash)
        let plain = PeriodicTaskConfig(cronspec: "@hourly", task: AsynqTask(type: "ping"))
        #expect(plain.hash == "cb952c12d5c725098341f3e933bc4ec7d34454ba1c9c3d0244bd86cbc5110e41")
    }
}

@Suite("PeriodicTaskConfig YAML")
struct PeriodicTaskYAMLTests {
    @Test("every field and option")
    func allFields() throws {
        let configs = try YAMLFileConfigProvider.parse(
            """
            tasks:
              - cronspec: "*/5 * * * *"
                task_type: email:digest
                payload: '{"list":"daily"}'
                headers: { source: cron }
                options:
                  queue: low
                  max_retry: 3
                  timeout: 30s
                  unique: 1h
                  retention: 24h
                  process_in: 1m30s
                  task_id: x
                  group: g
                  deadline: 2026-01-01T00:00:00Z
              - cronspec: "@every 1h30m"
                task_type: ping
            """)
        #expect(configs.count == 2)
        #expect(configs[0].cronspec == "*/5 * * * *")
        #expect(
            configs[0].task
                == AsynqTask(type: "email:digest", payload: #"{"list":"daily"}"#, headers: ["source": "cron"]))
        #expect(
            configs[0].options == [
                .queue("low"), .maxRetry(3), .timeout(.seconds(30)), .unique(ttl: .seconds(3600)),
                .retention(.seconds(86400)), .processIn(.seconds(90)), .taskID("x"), .group("g"),
                .deadline(Date(timeIntervalSince1970: 1_767_225_600)),
            ])
        #expect(configs[1] == PeriodicTaskConfig(cronspec: "@every 1h30m", task: AsynqTask(type: "ping")))
        #expect(try YAMLFileConfigProvider.parse("tasks: []").isEmpty)
        #expect(try YAMLFileConfigProvider.parse("tasks:").isEmpty)
    }

    @Test(
        "errors name the entry, the field and the position",
        arguments: [
            ("tasks:\n  - cronspec: \"@daily\"\n", "<yaml>:2:5: tasks[0].task_type: missing"),
            (
                "tasks:\n  - cronspec: \"@daily\"\n    task_type: a\n    options: { max_retries: 3 }\n",
                "<yaml>:4:16: tasks[0].options.max_retries: unknown option"
            ),
            (
                "tasks:\n  - cronspec: \"@daily\"\n    task_type: a\n  - cronspec: \"@daily\"\n    task_type: b\n    options: { timeout: 30 }\n",
                "<yaml>:6:25: tasks[1].options.timeout: invalid duration \"30\""
            ),
            (
                "tasks:\n  - cronspec: \"@daily\"\n    task_type: a\n    options: { max_retry: many }\n",
                "<yaml>:4:27: tasks[0].options.max_retry: expected an integer, got \"many\""
            ),
            (
                "tasks:\n  - cronspec: \"@daily\"\n    task_type: a\n    options: { deadline: soon }\n",
                "<yaml>:4:26: tasks[0].options.deadline: expected a timestamp"
            ),
            ("tasks:\n  - cronspec: \"\"\n    task_type: a\n", "<yaml>:2:15: tasks[0].cronspec: cannot be empty"),
            ("tasks:\n  - just a string\n", "<yaml>:2:5: tasks[0]: expected a mapping"),
            ("jobs: []\n", "<yaml>:1:1: unknown key `jobs` (expected `tasks`)"),
            ("", "<yaml>: expected a mapping with a `tasks` list at the top"),
            ("tasks: [unclosed\n", "<yaml>:2:1: invalid YAML"),
        ])
    func errors(_ yaml: String, _ expected: String) {
        #expect(throws: PeriodicTaskConfigError.self) { try YAMLFileConfigProvider.parse(yaml) }
        do {
            _ = try YAMLFileConfigProvider.parse(yaml)
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test("an unreadable file is an error naming it")
    func missingFile() async {
        let provider = YAMLFileConfigProvider(path: "/nonexistent/periodic.yaml")
        await #expect(throws: PeriodicTaskConfigError.self) { try await provider.configs() }
    }
}
