/// One node of a Redis Cluster.
public struct RedisClusterNode: Sendable, Hashable, CustomStringConvertible {
    public enum Role: String, Sendable, Hashable {
        case master
        case replica
    }

    /// The 40-character node ID.
    public let id: String
    public let address: RedisServerAddress
    public let role: Role

    public init(id: String, address: RedisServerAddress, role: Role) {
        self.id = id
        self.address = address
        self.role = role
    }

    public var description: String { "\(role.rawValue) \(id.prefix(8)) \(address)" }
}

/// Which node serves which hash slots, as `CLUSTER SHARDS` (or `CLUSTER SLOTS`) reported it.
public struct RedisClusterTopology: Sendable, Hashable {
    /// A master, its replicas and the slots they serve.
    public struct Shard: Sendable, Hashable {
        public let slots: [ClosedRange<Int>]
        public let master: RedisClusterNode
        public let replicas: [RedisClusterNode]

        public init(slots: [ClosedRange<Int>], master: RedisClusterNode, replicas: [RedisClusterNode]) {
            self.slots = slots
            self.master = master
            self.replicas = replicas
        }
    }

    /// The shards that serve at least one slot, in the order the server listed them.
    public let shards: [Shard]

    public init(shards: [Shard]) {
        self.shards = shards
    }

    /// Every master that serves slots.
    public var masters: [RedisClusterNode] { shards.map(\.master) }

    /// The shard serving `slot`, if any.
    public func shard(forSlot slot: Int) -> Shard? {
        shards.first { shard in shard.slots.contains { $0.contains(slot) } }
    }

    /// The master serving `slot`, if any.
    public func master(forSlot slot: Int) -> RedisClusterNode? {
        shard(forSlot: slot)?.master
    }

    /// The nodes serving `slot`: the master first, then its replicas (empty if no node serves it).
    public func nodes(servingSlot slot: Int) -> [RedisClusterNode] {
        guard let shard = shard(forSlot: slot) else { return [] }
        return [shard.master] + shard.replicas
    }

    /// How many of the 16384 slots are served.
    public var coveredSlotCount: Int {
        shards.reduce(0) { total, shard in total + shard.slots.reduce(0) { $0 + $1.count } }
    }
}

// MARK: - Parsing

extension RedisClusterTopology {
    /// Parses a `CLUSTER SHARDS` reply (RESP2 or RESP3). `queried` is the node that answered, used
    /// when a node's endpoint is unknown (`?`); `tls` picks the `tls-port` when there is one.
    static func parse(
        shards reply: RESPToken, queried: RedisServerAddress, tls: Bool
    ) throws(RedisClientError)
        -> RedisClusterTopology
    {
        guard let entries = reply.array else { throw reply.unexpected("the CLUSTER SHARDS array") }
        var shards: [Shard] = []
        for entry in entries {
            guard let fields = entry.pairs else { throw entry.unexpected("a CLUSTER SHARDS entry") }
            var slots: [ClosedRange<Int>] = []
            var master: RedisClusterNode?
            var replicas: [RedisClusterNode] = []
            for (key, value) in fields {
                switch key.string {
                case "slots":
                    let bounds = (value.array ?? []).compactMap(\.int)
                    var index = 0
                    while index + 1 < bounds.count {
                        if bounds[index] <= bounds[index + 1] { slots.append(bounds[index]...bounds[index + 1]) }
                        index += 2
                    }
                case "nodes":
                    for nodeToken in value.array ?? [] {
                        guard let node = parseShardNode(nodeToken, queried: queried, tls: tls) else { continue }
                        if node.node.role == .master {
                            // A failed master may still be listed beside the promoted one.
                            if master == nil || node.healthy { master = node.node }
                        } else if node.healthy {
                            replicas.append(node.node)
                        }
                    }
                default:
                    break
                }
            }
            if let master, !slots.isEmpty {
                shards.append(Shard(slots: slots, master: master, replicas: replicas))
            }
        }
        return RedisClusterTopology(shards: shards)
    }

    private static func parseShardNode(
        _ token: RESPToken, queried: RedisServerAddress, tls: Bool
    ) -> (node: RedisClusterNode, healthy: Bool)? {
        guard let fields = token.pairs else { return nil }
        var id = ""
        var ip: String?
        var endpoint: String?
        var port: Int?
        var tlsPort: Int?
        var role = RedisClusterNode.Role.replica
        var health = "online"
        for (key, value) in fields {
            switch key.string {
            case "id": id = value.string ?? ""
            case "ip": ip = value.string
            case "endpoint": endpoint = value.string
            case "port": port = value.int
            case "tls-port": tlsPort = value.int
            case "role": role = value.string == "master" ? .master : .replica
            case "health": health = value.string ?? "online"
            default: break
            }
        }
        guard let chosenPort = (tls ? tlsPort ?? port : port ?? tlsPort) else { return nil }
        let host = usableHost(endpoint) ?? usableHost(ip) ?? queried.host
        guard let host else { return nil }
        // "online", "loading" (a replica still syncing), or "fail".
        return (RedisClusterNode(id: id, address: .tcp(host: host, port: chosenPort), role: role), health != "fail")
    }

    /// Parses a `CLUSTER SLOTS` reply: `[start, end, [ip, port, id, …], replica…]` per range.
    static func parse(
        slots reply: RESPToken, queried: RedisServerAddress
    ) throws(RedisClientError)
        -> RedisClusterTopology
    {
        guard let entries = reply.array else { throw reply.unexpected("the CLUSTER SLOTS array") }
        var order: [String] = []
        var byMaster: [String: (slots: [ClosedRange<Int>], master: RedisClusterNode, replicas: [RedisClusterNode])] =
            [:]
        for entry in entries {
            guard let parts = entry.array, parts.count >= 3,
                let start = parts[0].int, let end = parts[1].int, start <= end
            else { throw entry.unexpected("a CLUSTER SLOTS entry") }
            let nodes = parts[2...].compactMap { parseSlotsNode($0, queried: queried) }
            guard let first = nodes.first else { continue }
            let master = RedisClusterNode(id: first.id, address: first.address, role: .master)
            let key = master.id.isEmpty ? master.address.description : master.id
            if byMaster[key] == nil {
                order.append(key)
                let replicas = nodes.dropFirst().map {
                    RedisClusterNode(id: $0.id, address: $0.address, role: .replica)
                }
                byMaster[key] = ([], master, replicas)
            }
            byMaster[key]?.slots.append(start...end)
        }
        return RedisClusterTopology(
            shards: order.compactMap { key in
                byMaster[key].map { Shard(slots: $0.slots, master: $0.master, replicas: $0.replicas) }
            }
        )
    }

    private static func parseSlotsNode(
        _ token: RESPToken, queried: RedisServerAddress
    ) -> (id: String, address: RedisServerAddress)? {
        guard let parts = token.array, parts.count >= 2, let port = parts[1].int else { return nil }
        guard let host = usableHost(parts[0].string) ?? queried.host else { return nil }
        let id = parts.count > 2 ? parts[2].string ?? "" : ""
        return (id, .tcp(host: host, port: port))
    }

    /// Nil for the "unknown endpoint" forms Redis uses (`?`, empty).
    private static func usableHost(_ host: String?) -> String? {
        guard let host, !host.isEmpty, host != "?" else { return nil }
        return host
    }
}

extension RedisServerAddress {
    /// The host of a TCP address.
    var host: String? {
        if case .tcp(let host, _) = self { return host }
        return nil
    }
}
