import Asynq
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the dashboard on a terminal: one loop takes events (keys and signals from the terminal
/// reader, a one-second tick, finished fetches and operations) from an `AsyncStream`, changes
/// the ``DashState``, and draws it. Reading the terminal and Redis happens in child tasks, so
/// keys are handled while a fetch waits on a slow or missing Redis.
///
/// Fetching: whenever the state's ``DashState/fetchPlan`` differs from the last one asked for,
/// and every refresh interval (every 2 s at most while Redis fails, to notice it is back). At
/// most one fetch runs at a time; a request made meanwhile runs when it ends.
package enum DashSession {
    enum Event: Sendable {
        case keys([DashKey])
        case inputClosed
        case signal(Int32)
        case tick
        case fetched(DashFetchPlan, Result<DashSnapshot, AsynqError>)
        case performed(DashOperation, String?)
    }

    /// Runs until `q`, Ctrl-C, SIGINT, SIGTERM, SIGHUP or the end of input; the terminal is
    /// restored on every way out. `abort` runs once the terminal is restored, to end fetches and
    /// operations still waiting on Redis (the caller closes its client) so that quitting is
    /// immediate even when Redis does not answer.
    package static func run(
        terminal: DashTerminal, source: DashDataSource, config: DashConfig,
        abort: @escaping @Sendable () async -> Void = {}
    ) async throws {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        try terminal.trapSignals()
        defer { terminal.untrapSignals() }
        try terminal.enter()
        defer { terminal.restore() }
        var state = DashState(config: config, size: terminal.size())
        var encoder = DashScreenEncoder()
        let clock = ContinuousClock()
        var suspendError: (any Error)?

        await withDiscardingTaskGroup { group in
            group.addTask {
                var decoder = DashKeyDecoder()
                while true {
                    switch await terminal.read(timeout: decoder.hasPending ? .milliseconds(40) : nil) {
                    case .bytes(let bytes):
                        let keys = decoder.feed(bytes)
                        if !keys.isEmpty { continuation.yield(.keys(keys)) }
                    case .signals(let numbers):
                        for number in numbers { continuation.yield(.signal(number)) }
                    case .timedOut:
                        continuation.yield(.keys(decoder.flush()))
                    case .closed:
                        continuation.yield(.inputClosed)
                        return
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    continuation.yield(.tick)
                }
            }

            var inFlight: DashFetchPlan?
            var requested: DashFetchPlan?
            var wanted = false
            var lastStart: ContinuousClock.Instant?

            func startFetch() {
                let plan = state.fetchPlan
                inFlight = plan
                requested = plan
                wanted = false
                lastStart = clock.now
                state.fetchingSince = Date()
                group.addTask {
                    do throws(AsynqError) {
                        continuation.yield(.fetched(plan, .success(try await source.fetch(plan))))
                    } catch {
                        continuation.yield(.fetched(plan, .failure(error)))
                    }
                }
            }

            func requestFetch() {
                if inFlight != nil { wanted = true } else { startFetch() }
            }

            func draw(full: Bool) {
                terminal.write(
                    encoder.frame(DashRenderer.render(state, now: Date()), width: state.size.width, full: full))
            }

            startFetch()
            draw(full: true)
            loop: for await event in events {
                var effects: [DashEffect] = []
                var full = false
                switch event {
                case .keys(let keys):
                    for key in keys {
                        effects += state.handle(key, now: Date())
                        if effects.contains(.quit) || effects.contains(.suspend) { break }
                    }
                case .inputClosed:
                    effects.append(.quit)
                case .signal(let number):
                    switch number {
                    case SIGWINCH:
                        state.size = terminal.size()
                        full = true
                    case SIGCONT:
                        terminal.reassert()
                        state.size = terminal.size()
                        full = true
                    default:
                        effects.append(.quit)
                    }
                case .tick:
                    let interval = state.error == nil ? config.refresh : DashState.retryInterval(config.refresh)
                    if inFlight == nil, let lastStart, clock.now - lastStart >= interval { startFetch() }
                case .fetched(let plan, let result):
                    inFlight = nil
                    state.fetchingSince = nil
                    switch result {
                    case .success(let snapshot): state.apply(snapshot)
                    case .failure(let error): state.fetchFailed(CLIFormat.describe(error))
                    }
                    if wanted || state.fetchPlan != plan { startFetch() }
                case .performed(let operation, let error):
                    effects += state.finished(operation, error: error, now: Date())
                }
                for effect in effects {
                    switch effect {
                    case .quit:
                        break loop
                    case .redraw:
                        full = true
                    case .fetch:
                        requestFetch()
                    case .perform(let operation):
                        group.addTask {
                            do throws(AsynqError) {
                                try await source.perform(operation)
                                continuation.yield(.performed(operation, nil))
                            } catch {
                                continuation.yield(.performed(operation, CLIFormat.describe(error)))
                            }
                        }
                    case .suspend:
                        do {
                            try terminal.suspend()
                        } catch {
                            suspendError = error
                            break loop
                        }
                        state.size = terminal.size()
                        full = true
                    }
                }
                if state.fetchPlan != requested { requestFetch() }
                draw(full: full)
            }
            terminal.restore()
            terminal.stopReading()
            continuation.finish()
            group.cancelAll()
            await abort()
        }
        if let suspendError { throw suspendError }
    }
}
