/// The order in which queues are tried before each dequeue (`server.md` §5).
///
/// * one queue: that queue;
/// * strict priority: by priority, highest first (ties by name, fixed);
/// * weighted: priorities divided by their GCD, each queue repeated `priority` times, shuffled,
///   first occurrence of each kept — so a queue comes first with probability
///   priority / Σ priorities and every queue is still tried.
package struct QueueSelector: Sendable {
    package let queues: [String: Int]
    package let strictPriority: Bool
    private let fixedOrder: [String]?
    /// Each queue repeated by its GCD-normalised priority (weighted mode).
    private let weightedList: [String]

    package init(queues: [String: Int], strictPriority: Bool) {
        self.queues = queues
        self.strictPriority = strictPriority
        let names = queues.keys.sorted()
        if names.count <= 1 {
            fixedOrder = names
            weightedList = names
        } else if strictPriority {
            fixedOrder = names.sorted { (queues[$0] ?? 0, $1) > (queues[$1] ?? 0, $0) }
            weightedList = []
        } else {
            fixedOrder = nil
            let divisor = names.reduce(0) { Self.gcd($0, queues[$1] ?? 1) }
            weightedList = names.flatMap { name in
                Array(repeating: name, count: max(1, (queues[name] ?? 1) / max(1, divisor)))
            }
        }
    }

    /// The queues in the order to try them now.
    package func order(using generator: inout some RandomNumberGenerator) -> [String] {
        if let fixedOrder { return fixedOrder }
        var seen = Set<String>()
        var order: [String] = []
        order.reserveCapacity(queues.count)
        for name in weightedList.shuffled(using: &generator) where seen.insert(name).inserted {
            order.append(name)
            if order.count == queues.count { break }
        }
        return order
    }

    private static func gcd(_ a: Int, _ b: Int) -> Int {
        var (a, b) = (abs(a), abs(b))
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
}
