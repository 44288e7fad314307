// swift-tools-version: 6.2
import PackageDescription

// A separate package so that the main build stays lean (see ../../shared/DESIGN.md §1).
//   swift package benchmark                              # RESP codec micro-benchmarks (ordo-one/benchmark)
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
        .executableTarget(
            name: "RESPBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AsynqRedis", package: rootPackage),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/RESPBenchmarks",
            swiftSettings: upcoming,
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "RedisLoad",
            dependencies: [
                .product(name: "AsynqRedis", package: rootPackage),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming
        ),
    ]
)
