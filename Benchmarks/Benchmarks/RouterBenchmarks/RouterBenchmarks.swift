// TaskRouter micro-benchmarks: finding the handler of a task among 20 registered patterns, as
// the processor does for every task (`TaskRouter.handler(for:)`, public API). An exact match is
// a dictionary lookup; otherwise the patterns are tried longest first, so the cost of a prefix
// match grows with the number of longer patterns tried before it. No server is involved.
//
//   cd Benchmarks && swift package benchmark --target RouterBenchmarks

import Asynq
import Benchmark
import BenchmarkSupport

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = AsynqBenchmarkConfiguration.configuration()

    let plain = RouterSample.makeRouter(middlewares: 0)
    let wrapped = RouterSample.makeRouter(middlewares: 2)

    route("exact_match", plain, type: "email:deliver", expecting: "email:deliver")
    // "report:daily" beats "report:"; the ten or so longer patterns are tried before it.
    route("longest_prefix", plain, type: "report:daily:eu", expecting: "report:daily")
    // A 4-byte pattern near the end of the longest-first list: nearly every pattern is tried.
    route("short_prefix_tried_last", plain, type: "sms:reminder:v2", expecting: "sms:")
    route("no_match", plain, type: "unknown:task", expecting: "")
    route("exact_match_2_middlewares", wrapped, type: "email:deliver", expecting: "email:deliver")
}

/// Benchmarks `router.handler(for:)` for a task of `type`, after checking that `expecting` is the
/// pattern it matches ("" for none).
func route(_ name: String, _ router: TaskRouter, type: String, expecting: String) {
    let task = AsynqTask(type: type, payload: RouterSample.payload)
    Benchmark("route_\(name)_of_20_patterns") { benchmark in
        let matched = router.handler(for: task).pattern
        guard matched == expecting else {
            benchmark.error("\(type) matched \"\(matched)\", expected \"\(expecting)\"")
            return
        }
        var count = 0
        for _ in benchmark.scaledIterations {
            count &+= router.handler(for: task).pattern.utf8.count
        }
        blackHole(count)
    }
}

enum RouterSample {
    static let payload = "{}"

    /// 20 patterns of the kinds applications register: full type names and prefixes of families.
    static let patterns = [
        "email:deliver", "email:welcome", "email:digest", "email:",
        "image:resize", "image:resize:thumbnail", "image:crop", "image:",
        "report:daily", "report:weekly", "report:",
        "notification:push", "notification:sms", "notification:",
        "billing:invoice", "billing:charge", "billing:",
        "webhook:deliver", "cleanup", "sms:",
    ]

    static func makeRouter(middlewares: Int) -> TaskRouter {
        let router = TaskRouter()
        for pattern in patterns {
            router.handle(pattern) { _, _ in }
        }
        for _ in 0..<middlewares {
            router.use { task, context, next in
                try await next.processTask(task, context: context)
            }
        }
        return router
    }
}
