import Asynq
import AsynqCLICore
import AsynqTestSupport
import Foundation
import Testing

@Suite("asynq server run / worker / dev")
struct CLIWorkerTests {
    @Test("shell handlers that succeed, fail, skip retry, time out and are cancelled")
    func shellHandlers() async throws {
        try await withRedisServer { redis in
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("asynq-cli-worker-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }

            let output = LineLog()
            let stop = StopSignal()
            let arguments =
                [
                    "server", "run", "--concurrency", "4", "--queues", "jobs=1", "--shutdown-timeout", "2s",
                    "--handle",
                    #"ok:=read line; echo "got $line from $ASYNQ_TASK_TYPE attempt $ASYNQ_RETRY_COUNT""#,
                    "--handle", "fail:=echo boom >&2; exit 1",
                    "--handle", "skip:=echo not for me >&2; exit 3",
                    "--handle",
                    "slow:=echo $$ > \(directory)/$ASYNQ_TASK_ID.pid; echo ready $ASYNQ_TASK_ID; exec sleep 60",
                ] + redis.cliAddress
            async let worker = runCLI(arguments, output: output, stop: stop)
            // Should the test fail before it stops the worker, stop it anyway (this runs before
            // the implicit cancel and await of `worker` at the end of the scope).
            defer { stop.fire() }
            _ = try await output.waitForLine(containing: "asynq worker ")

            let client = try redis.makeClient()
            let inspector = try redis.makeInspector()
            try await client.enqueue(
                AsynqTask(type: "ok:hello", payload: "payload\n"), .queue("jobs"), .taskID("ok1"))
            try await client.enqueue(AsynqTask(type: "fail:x"), .queue("jobs"), .taskID("fail1"))
            try await client.enqueue(AsynqTask(type: "skip:x"), .queue("jobs"), .taskID("skip1"))
            try await client.enqueue(
                AsynqTask(type: "slow:timeout"), .queue("jobs"), .taskID("slow1"), .timeout(.seconds(1)))
            try await client.enqueue(AsynqTask(type: "slow:cancel"), .queue("jobs"), .taskID("slow2"))

            #expect(try await output.waitForLine(containing: "got payload from ok:hello attempt 0") != "")
            _ = try await output.waitForLine(containing: "succeeded ok:hello ok1")
            _ = try await output.waitForLine(containing: "failed    fail:x fail1", ": boom")
            _ = try await output.waitForLine(containing: "failed    skip:x skip1", "not for me")

            // Timeout: the process group is killed.
            _ = try await output.waitForLine(containing: "failed    slow:timeout slow1")
            let timedOutPID = try Self.pid(in: directory, task: "slow1")
            #expect(!processExists(timedOutPID))

            // Cancellation through the CLI.
            _ = try await output.waitForLine(containing: "ready slow2")
            let cancelledPID = try Self.pid(in: directory, task: "slow2")
            let cancel = await runCLI(["task", "cancel", "slow2"] + redis.cliAddress)
            #expect(cancel.status == 0)
            _ = try await output.waitForLine(containing: "failed    slow:cancel slow2")
            #expect(!processExists(cancelledPID))

            let servers = await runCLI(["server", "ls"] + redis.cliAddress)
            #expect(servers.outputLines[0] == "Host" + servers.outputLines[0].dropFirst(4))
            #expect(servers.output.contains("jobs:1"))

            stop.fire()
            let result = await worker
            #expect(result.status == 0)
            #expect(result.output.contains("asynq worker stopped"))

            let failed = try await inspector.taskInfo(queue: "jobs", id: "fail1")
            #expect(failed.state == .retry)
            #expect(failed.lastError == "boom")
            let skipped = try await inspector.taskInfo(queue: "jobs", id: "skip1")
            #expect(skipped.state == .archived)
            await client.close()
            await inspector.close()
        }
    }

    @Test("worker options are validated")
    func workerValidation() async {
        let noHandler = await runCLI(["worker", "-u", "127.0.0.1:1"])
        #expect(noHandler.status == 1)
        #expect(noHandler.errorLines.count == 1)
        let badQueues = await runCLI([
            "worker", "--handle", "a=true", "--queues", "x=zero", "-u", "127.0.0.1:1",
        ])
        #expect(badQueues.status == 1)
        #expect(badQueues.error.contains("invalid --queues entry"))
    }

    @Test("asynq dev --duration runs the demo and leaves no redis-server behind")
    func devDemo() async throws {
        let result = await runCLI(["dev", "--duration", "5s"])
        #expect(result.status == 0, "\(result.error)")
        let first = try #require(result.outputLines.first)
        #expect(first.hasPrefix("redis-server started on 127.0.0.1:"))
        let pidText = try #require(first.split(separator: "(pid ").last?.split(separator: ",").first)
        let pid = try #require(Int32(pidText))
        let directory = try #require(first.split(separator: "directory ").last?.dropLast())
        #expect(!processExists(pid))
        #expect(!FileManager.default.fileExists(atPath: String(directory)))
        for event in ["enqueued", "started", "succeeded", "rejected", "→ retry at"] {
            #expect(result.output.contains(event), "no \(event) line")
        }
    }

    private static func pid(in directory: String, task: String) throws -> Int32 {
        let text = try String(contentsOfFile: "\(directory)/\(task).pid", encoding: .utf8)
        return try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
