import Asynq
import AsynqCLICore
import AsynqTestSupport
import Foundation
import Testing

@Suite("asynq CLI commands against redis-server")
struct CLICommandTests {
    @Test("--version, version and unknown subcommands")
    func versionAndUnknown() async {
        let version = await runCLI(["--version"])
        #expect(version.status == 0)
        #expect(version.output == "asynq version 0.26.0\n")
        #expect(await runCLI(["version"]).output == "asynq version 0.26.0\n")
        let unknown = await runCLI(["queue", "lst"])
        #expect(unknown.status == 1)
        #expect(
            unknown.errorLines == [
                #"Error: unknown command "lst" for "asynq queue" (did you mean "list" or "ls"?)"#
            ])
        let help = await runCLI(["task", "--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("archiveall"))
    }

    @Test("bad input: one clear line on standard error and status 1")
    func badInput() async {
        let badURI = await runCLI(["stats", "-u", "localhost:notaport"])
        #expect(badURI.status == 1)
        #expect(badURI.errorLines.count == 1)
        #expect(badURI.error.contains("invalid --uri"))

        let badScheme = await runCLI(["queue", "ls", "-u", "http://example.com"])
        #expect(badScheme.status == 1)
        #expect(badScheme.errorLines.count == 1)
        #expect(badScheme.error.contains("unsupported uri scheme"))

        let missing = await runCLI(["task", "ls", "-q", "default"])
        #expect(missing.status == 1)
        #expect(missing.errorLines.count == 1)
        #expect(missing.error.contains("--state"))

        let badDuration = await runCLI([
            "task", "enqueue", "-t", "x", "-l", "y", "--timeout", "10 parsecs", "-u", "127.0.0.1:1",
        ])
        #expect(badDuration.status == 1)
        #expect(
            badDuration.errorLines == [
                #"invalid duration "10 parsecs" for --timeout (examples: 30s, 5m, 1h30m)"#
            ])

        // Nothing listens on port 1.
        let unreachable = await runCLI(["stats", "-u", "127.0.0.1:1"])
        #expect(unreachable.status == 1)
        #expect(unreachable.errorLines.count == 1)
        #expect(unreachable.output.isEmpty)
    }

    @Test("enqueue (task and client), list, inspect, stats, JSON")
    func enqueueListInspect() async throws {
        try await withRedisServer { redis in
            let address = redis.cliAddress
            let enqueued = await runCLI(
                [
                    "task", "enqueue", "-t", "email:deliver", "-l", #"{"to":"a"}"#, "--queue", "mail", "--id",
                    "t1",
                ] + address)
            #expect(enqueued.status == 0)
            #expect(enqueued.output == "Enqueued task t1 to queue mail\n")

            let scheduled = await runCLI(
                [
                    "client", "enqueue", "--type", "report", "--payload", "-", "--queue", "mail",
                    "--process-in", "1h", "--task-id", "t2", "--json",
                ]
                    + address,
                stdin: Data([0xFF, 0x00])
            )
            #expect(scheduled.status == 0)
            let json = try #require(
                JSONSerialization.jsonObject(with: Data(scheduled.output.utf8)) as? [String: Any])
            #expect(json["id"] as? String == "t2")
            #expect(json["state"] as? String == "scheduled")
            #expect(json["payloadBase64"] as? String == "/wA=")

            let human = await runCLI(
                ["client", "enqueue", "--type", "ping", "--queue", "mail", "--header", "k=v"] + address)
            #expect(human.status == 0)
            #expect(human.output.hasPrefix("Enqueued task "))
            #expect(human.output.contains("  State:             pending\n"))
            #expect(human.output.contains("  Header:            k=v\n"))

            let duplicate = await runCLI(
                ["task", "enqueue", "-t", "x", "-l", "y", "--queue", "mail", "--id", "t1"] + address)
            #expect(duplicate.status == 1)
            #expect(
                duplicate.errorLines == ["could not enqueue task: task ID conflicts with another task"])

            let pending = await runCLI(["task", "ls", "-q", "mail", "-s", "pending"] + address)
            #expect(pending.status == 0)
            #expect(pending.outputLines[0].hasPrefix("ID   "))
            #expect(pending.output.contains(#"email:deliver  {"to":"a"}"#))

            let scheduledList = await runCLI(["task", "ls", "-q", "mail", "-s", "scheduled"] + address)
            #expect(scheduledList.outputLines[0] == "ID  Type    Payload              Process In  ")
            #expect(scheduledList.outputLines[2].hasPrefix("t2  report  non-printable bytes  in "))

            let empty = await runCLI(["task", "ls", "-q", "mail", "-s", "archived"] + address)
            #expect(empty.output == "No archived tasks in \"mail\" queue\n")

            let badState = await runCLI(["task", "ls", "-q", "mail", "-s", "sleeping"] + address)
            #expect(badState.status == 1)
            #expect(badState.errorLines == [#"state="sleeping" is not supported"#])

            let listJSON = await runCLI(
                ["task", "ls", "-q", "mail", "-s", "pending", "--json"] + address)
            let items = try #require(
                JSONSerialization.jsonObject(with: Data(listJSON.output.utf8)) as? [[String: Any]])
            #expect(items.count == 2)

            let inspect = await runCLI(["task", "inspect", "-q", "mail", "-i", "t2"] + address)
            #expect(inspect.status == 0)
            #expect(
                inspect.outputLines[0...4] == [
                    "Task Info", "Queue:   mail", "ID:      t2", "Type:    report", "State:   scheduled",
                ])

            let unknownTask = await runCLI(["task", "inspect", "-q", "mail", "-i", "nope"] + address)
            #expect(unknownTask.status == 1)
            #expect(unknownTask.errorLines.count == 1)
            #expect(unknownTask.error.hasPrefix("could not get task info: "))

            let queues = await runCLI(["queue", "ls"] + address)
            #expect(queues.output == "mail\n")

            let stats = await runCLI(["stats"] + address)
            #expect(stats.status == 0)
            #expect(stats.outputLines[0] == "Task Count by State")
            #expect(
                stats.outputLines[3]
                    == "0          2          0            1          0          0          0          ")
            #expect(stats.output.contains("Task Count by Queue\nmail  \n----  \n3     \n"))

            let statsJSON = await runCLI(["stats", "--json"] + address)
            #expect(
                statsJSON.output.hasPrefix(
                    #"{"aggregate":{"active":0,"pending":2,"aggregating":0,"scheduled":1,"#))
            #expect(statsJSON.output.contains(#""queues":[{"Queue":"mail","MemoryUsage":"#))
            let parsed = try #require(
                JSONSerialization.jsonObject(with: Data(statsJSON.output.utf8)) as? [String: Any])
            #expect((parsed["redis"] as? [String: String])?["redis_version"] != nil)

            // An unknown queue: the others are still shown, the error goes to standard error
            // and the status is 1 (Go prints it on standard output and exits 0).
            let inspectQueues = await runCLI(["queue", "inspect", "mail", "ghost"] + address)
            #expect(inspectQueues.status == 1)
            #expect(inspectQueues.output.contains("Name:   mail\nSize:   3\nGroups: 0\nPaused: false\n"))
            #expect(inspectQueues.output.hasSuffix("\n=================================================\n\n"))
            #expect(inspectQueues.errorLines == [#"error: NOT_FOUND: queue "ghost" does not exist"#])
            let history = await runCLI(["queue", "history", "ghost"] + address)
            #expect(history.status == 1)
            #expect(history.errorLines == [#"error: NOT_FOUND: queue "ghost" does not exist"#])
        }
    }

    @Test("queue pause/resume/remove, bulk commands, single-task commands, purge")
    func queueAndTaskMaintenance() async throws {
        try await withRedisServer { redis in
            let address = redis.cliAddress
            let client = try redis.makeClient()
            for index in 0..<3 {
                try await client.enqueue(
                    AsynqTask(type: "job", payload: "n\(index)"), .queue("work"), .taskID("p\(index)"))
            }
            try await client.enqueue(
                AsynqTask(type: "job", payload: "later"), .queue("work"), .taskID("s1"),
                .processIn(.seconds(3600)))
            await client.close()

            let pause = await runCLI(["queue", "pause", "work", "work"] + address)
            #expect(pause.status == 1)
            #expect(pause.output == "Successfully paused queue \"work\"\n")
            #expect(pause.errorLines.count == 1)
            #expect(
                await runCLI(["queue", "unpause", "work"] + address).output
                    == "Successfully unpaused queue \"work\"\n")

            #expect(
                await runCLI(["task", "archive", "-q", "work", "-i", "p0"] + address).output
                    == "task archived\n")
            #expect(
                await runCLI(["task", "run", "-q", "work", "-i", "p0"] + address).output
                    == "task is now pending\n")
            #expect(
                await runCLI(["task", "delete", "-q", "work", "-i", "p0"] + address).output
                    == "task deleted\n")
            let again = await runCLI(["task", "rm", "-q", "work", "-i", "p0"] + address)
            #expect(again.status == 1)
            #expect(again.error.hasPrefix("could not delete task: "))

            #expect(
                await runCLI(["task", "archiveall", "-q", "work", "-s", "pending"] + address).output
                    == "2 tasks archived\n")
            #expect(
                await runCLI(["task", "runall", "-q", "work", "-s", "archived"] + address).output
                    == "2 tasks are now pending\n")
            let unsupported = await runCLI(["task", "runall", "-q", "work", "-s", "pending"] + address)
            #expect(unsupported.errorLines == [#"unsupported state "pending""#])
            let groupless = await runCLI(
                ["task", "deleteall", "-q", "work", "-s", "aggregating"] + address)
            #expect(groupless.errorLines == ["flag --group is required for aggregating tasks"])

            let notEmpty = await runCLI(["queue", "rm", "work"] + address)
            #expect(notEmpty.status == 1)
            #expect(
                notEmpty.error.contains(
                    "If you are sure you want to delete it, run 'asynq queue rm --force work'"))

            let refused = await runCLI(["client", "purge", "--queue", "work"] + address)
            #expect(refused.status == 1)
            #expect(refused.error.contains("pass --force"))
            let declined = await runCLI(
                ["client", "purge", "--queue", "work"] + address, isInputTerminal: true, answer: "n")
            #expect(declined.status == 1)
            let purged = await runCLI(
                ["client", "purge", "--queue", "work", "--state", "pending", "--force"] + address)
            #expect(purged.status == 0)
            #expect(purged.output.hasPrefix("2 tasks deleted from queue \"work\""))
            let confirmed = await runCLI(
                ["client", "purge", "--queue", "work", "--json"] + address, isInputTerminal: true,
                answer: "y")
            #expect(confirmed.status == 0)
            #expect(confirmed.output.contains(#""scheduled":1"#))

            let queueHistory = await runCLI(["queue", "history", "work", "-x", "2"] + address)
            #expect(queueHistory.outputLines[0] == "Queue: work")
            #expect(queueHistory.outputLines[2] == "date (UTC)  processed  failed  error rate  ")
            #expect(
                await runCLI(["queue", "rm", "work"] + address).output
                    == "Successfully removed queue \"work\"\n")
            #expect(
                await runCLI(["group", "ls", "-q", "work"] + address).output
                    == "No groups found in queue \"work\"\n")
            #expect(await runCLI(["server", "ls"] + address).output == "No running servers\n")
            #expect(await runCLI(["cron", "ls"] + address).output == "No scheduler entries\n")
            let history = await runCLI(["cron", "history", "e1"] + address)
            #expect(history.output == "\nEntry: e1\n\nNo scheduler enqueue events found for entry: e1\n")
            let cancel = await runCLI(["task", "cancel", "abc"] + address)
            #expect(cancel.output == "Sent cancelation signal for task abc\n")
        }
    }
}
