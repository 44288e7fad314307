// swift-tools-version: 6.2
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "swift-asynq",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AsynqRedis", targets: ["AsynqRedis"]),
        .library(name: "Asynq", targets: ["Asynq"]),
        .executable(name: "asynq", targets: ["AsynqCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(
            name: "AsynqRedis",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "Asynq",
            dependencies: [
                "AsynqRedis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["Wire/asynq.proto"],
            swiftSettings: upcoming
        ),
        .target(
            name: "AsynqTestSupport",
            dependencies: [
                "AsynqRedis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "AsynqCLICore",
            dependencies: [
                "Asynq",
                "AsynqRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "AsynqCLI",
            dependencies: [
                "AsynqCLICore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "asynq-quickstart",
            dependencies: ["Asynq", "AsynqRedis", .product(name: "Logging", package: "swift-log")],
            path: "Examples/Quickstart",
            swiftSettings: upcoming
        ),
        // A worker process for the crash-recovery tests (built with the tests, not a product).
        .executableTarget(
            name: "asynq-test-worker",
            dependencies: ["Asynq", "AsynqRedis", .product(name: "Logging", package: "swift-log")],
            path: "Tests/AsynqTestWorker",
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "AsynqRedisTests",
            dependencies: [
                "AsynqRedis",
                "AsynqTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "AsynqTests",
            dependencies: [
                "Asynq",
                "AsynqRedis",
                "AsynqTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "AsynqCLITests",
            dependencies: [
                "AsynqCLICore",
                "Asynq",
                "AsynqRedis",
                "AsynqTestSupport",
            ],
            swiftSettings: upcoming
        ),
    ]
)
