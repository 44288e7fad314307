public import Benchmark

/// What every benchmark target of this package measures, and how far a run may stray from the
/// p90 thresholds checked in under `Benchmarks/Thresholds/` before `Benchmarks/check` fails.
///
/// Two metrics, with different tolerances:
/// - `mallocCountTotal`: deterministic for the codec and call-building benchmarks (the same code
///   allocates the same number of times on every run and every machine), so it is the regression
///   signal: the default tolerance is a tenth of an allocation per operation, i.e. one more
///   allocation per operation fails.
/// - `wallClock`: noisy on the shared 2-core machines this runs on (other builds, other
///   measurements: the same benchmark's p90 was seen to vary 2 to 3 times), so its tolerance is
///   loose: by default only a p90 more than 2.5 times the threshold fails.
///
/// A run *better* than a threshold by more than the tolerance is reported too (the tool exits 4);
/// `Benchmarks/check` accepts that and suggests updating the thresholds.
public enum AsynqBenchmarkConfiguration {
    /// The metrics recorded (and written to the thresholds files) for every benchmark.
    public static let metrics: [BenchmarkMetric] = [.wallClock, .mallocCountTotal]

    /// How far the allocation count of a run may stray from its threshold.
    public enum MallocTolerance: Sendable {
        /// Allocations per operation (absolute, times the scaling factor, at least 1): for the
        /// deterministic benchmarks.
        case perOperation(Double)
        /// Percent of the threshold: for benchmarks whose count is not deterministic (those that
        /// talk to a server through an event loop, whose reads split differently from run to run).
        case percent(Double)
    }

    /// A configuration for benchmarks doing `scalingFactor` operations per measured run.
    ///
    /// `wallClockTolerancePercent` is how much slower than its threshold (in percent of it) the
    /// p90 wall clock may be: 150 fails beyond 2.5 times the threshold.
    public static func configuration(
        scalingFactor: BenchmarkScalingFactor = .kilo,
        mallocTolerance: MallocTolerance = .perOperation(0.1),
        wallClockTolerancePercent: Double = 150,
        warmupIterations: Int = 5,
        maxDuration: Duration = .seconds(1),
        maxIterations: Int = 10_000,
        setup: Benchmark.BenchmarkSetupHook? = nil,
        teardown: Benchmark.BenchmarkTeardownHook? = nil
    ) -> Benchmark.Configuration {
        let mallocs: BenchmarkThresholds
        switch mallocTolerance {
        case .perOperation(let slack):
            let absolute = max(1, Int((Double(scalingFactor.rawValue) * slack).rounded()))
            mallocs = BenchmarkThresholds(absolute: [.p90: absolute])
        case .percent(let percent):
            mallocs = BenchmarkThresholds(relative: [.p90: percent])
        }
        return Benchmark.Configuration(
            metrics: metrics,
            warmupIterations: warmupIterations,
            scalingFactor: scalingFactor,
            maxDuration: maxDuration,
            maxIterations: maxIterations,
            thresholds: [
                .wallClock: BenchmarkThresholds(relative: [.p90: wallClockTolerancePercent]),
                .mallocCountTotal: mallocs,
            ],
            setup: setup,
            teardown: teardown
        )
    }
}
