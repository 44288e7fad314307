// swift-tools-version: 6.2
import PackageDescription

// A separate package so that the main build stays lean (see ../../shared/DESIGN.md §1).
//   swift package benchmark                              # micro-benchmarks (ordo-one/benchmark); see README.md
//   ./check                                              # the same, checked against Thresholds/ (non-zero on regression)
//   swift build -c release --product redis-load          # load generator compared with redis-benchmark
//   .build/release/redis-load --help

/// A path dependency is identified by its directory name, which depends on where the repository
/// was cloned ("swift-asynq", "main", ...).
let rootPackage: String = {
    let parts = Context.packageDirectory.split(separator: "/")
    return parts.dropLast().last.map(String.init) ?? "swift-asynq"
}()

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-asynq-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "redis-load", targets: ["RedisLoad"])
    ],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // Shared by the benchmark targets: the metrics and the threshold tolerances.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            swiftSettings: upcoming
        ),
        // A throwaway redis-server (used by redis-load and the end-to-end benchmarks).
        .target(
            name: "ThrowawayRedis",
            dependencies: [.product(name: "AsynqRedis", package: rootPackage)],
            swiftSettings: upcoming
        ),
        benchmarkTarget(
            "RESPBenchmarks",
            dependencies: [
                .product(name: "AsynqRedis", package: rootPackage),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        benchmarkTarget(
            "WireBenchmarks",
            dependencies: [.product(name: "Asynq", package: rootPackage)]
        ),
        benchmarkTarget(
            "RouterBenchmarks",
            dependencies: [.product(name: "Asynq", package: rootPackage)]
        ),
        benchmarkTarget(
            "ScriptCallBenchmarks",
            dependencies: [
                .product(name: "Asynq", package: rootPackage),
                .product(name: "AsynqRedis", package: rootPackage),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        benchmarkTarget(
            "DequeueRedisBenchmarks",
            dependencies: [
                "ThrowawayRedis",
                .product(name: "Asynq", package: rootPackage),
                .product(name: "AsynqRedis", package: rootPackage),
            ]
        ),
        .executableTarget(
            name: "RedisLoad",
            dependencies: [
                "ThrowawayRedis",
                .product(name: "AsynqRedis", package: rootPackage),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming
        ),
    ]
)

/// A benchmark executable in `Benchmarks/<name>`, run by ordo-one/benchmark's plugin.
func benchmarkTarget(_ name: String, dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["BenchmarkSupport", .product(name: "Benchmark", package: "benchmark")] + dependencies,
        path: "Benchmarks/\(name)",
        swiftSettings: upcoming,
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}
