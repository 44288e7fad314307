import Asynq
import AsynqRedis
import Foundation

// The README quickstart, compiled so it cannot rot.
//
//     swift run asynq-quickstart client   # enqueue the example tasks
//     swift run asynq-quickstart worker   # process them (Ctrl-C to stop)
//
// Redis is taken from REDIS_URL (default redis://127.0.0.1:6379).

let redisURL = ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379"
let redis = try RedisConnectionOptions(uri: redisURL)

switch CommandLine.arguments.dropFirst().first {
case "client":
    let client = try AsynqClient(redis: redis)

    // Process the task immediately.
    let welcome = EmailDelivery(userID: 42, templateID: "welcome")
    var info = try await client.enqueue(welcome)
    print("enqueued task: id=\(info.id) queue=\(info.queue)")

    // Process the task 24 hours later.
    let reminder = EmailDelivery(userID: 42, templateID: "reminder")
    info = try await client.enqueue(reminder, .processIn(.seconds(24 * 3600)))
    print("enqueued task: id=\(info.id) queue=\(info.queue) state=\(info.state)")

    // Set other options: at most 10 retries, 3 minutes per attempt, on the critical queue.
    let resize = ImageResize(sourceURL: "https://example.com/myassets/image.jpg")
    info = try await client.enqueue(resize, .maxRetry(10), .timeout(.seconds(180)), .queue("critical"))
    print("enqueued task: id=\(info.id) queue=\(info.queue)")

    await client.close()

case "worker":
    let router = TaskRouter()
    router.handle(EmailDelivery.self, Handlers.deliverEmail)
    router.handle(ImageResize.self, Handlers.resizeImage)

    var configuration = AsynqServer.Configuration(concurrency: 10)
    // Queues with their priorities: critical gets 60 % of the fetches, default 30 %, low 10 %.
    configuration.queues = ["critical": 6, "default": 3, "low": 1]
    let server = try AsynqServer(redis: redis, configuration: configuration, handler: router)
    // SIGTERM/SIGINT: graceful shutdown; SIGTSTP: stop fetching new tasks.
    try await server.runUntilSignalled()

default:
    print("usage: asynq-quickstart client|worker")
}
