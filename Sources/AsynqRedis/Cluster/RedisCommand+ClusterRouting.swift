package import NIOCore

/// Where a command goes in a Redis Cluster.
enum ClusterRouting: Equatable {
    /// To the master serving this slot (the slot of the command's first key).
    case slot(Int)
    /// The command has no key: any master can answer it.
    case anyNode
    /// To every master; the replies are combined.
    case allMasters(ClusterReplyCombination)
}

/// How the replies of a command sent to every master become one reply.
enum ClusterReplyCombination: Equatable {
    /// The first master's reply (all must succeed): `FLUSHDB`, `SCRIPT LOAD`, …
    case first
    /// The sum of integer replies: `DBSIZE`.
    case sum
    /// The concatenation of array replies: `KEYS`.
    case concatenate
}

extension RedisCommand {
    /// The argument at `index` (0 is the command name) as bytes, or nil past the end.
    package func argument(at index: Int) -> ByteBuffer? {
        guard index >= 0, index < count else { return nil }
        var copy = arguments
        var position = 0
        while let (_, length) = RESPToken.readHeader(&copy), let bytes = copy.readSlice(length: length) {
            if position == index { return bytes }
            copy.moveReaderIndex(forwardBy: 2)
            position += 1
        }
        return nil
    }

    private func argumentString(at index: Int) -> String? {
        argument(at: index).map { String(buffer: $0) }
    }

    private func argumentInt(at index: Int) -> Int? {
        argument(at: index).flatMap { RESPToken.parseInteger($0) }.map(Int.init)
    }

    /// The key a cluster client routes this command by: its first key (see ``clusterRouting``).
    package var firstKey: ByteBuffer? {
        if case .key(let index) = keyPosition { return argument(at: index) }
        return nil
    }

    /// Where the command goes in a cluster: the slot of its first key, any node, or every master.
    var clusterRouting: ClusterRouting {
        switch keyPosition {
        case .key(let index):
            guard let key = argument(at: index) else { return .anyNode }
            return .slot(RedisClusterHashSlot.slot(forKey: key))
        case .none:
            return .anyNode
        case .allMasters(let combination):
            return .allMasters(combination)
        }
    }

    private enum KeyPosition {
        case key(Int)
        case none
        case allMasters(ClusterReplyCombination)
    }

    /// A small table of where the first key is. Commands that are not listed take their key at
    /// argument 1 (GET, SET, H*, L*, S*, Z*, EXPIRE, …); a wrong guess only costs a `MOVED`.
    private var keyPosition: KeyPosition {
        let name = self.name
        switch name {
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            // EVAL script numkeys key... arg...
            return (argumentInt(at: 2) ?? 0) > 0 ? .key(3) : .none
        case "ZUNION", "ZINTER", "ZDIFF", "SINTERCARD", "ZINTERCARD", "LMPOP", "ZMPOP":
            return .key(2)
        case "BLMPOP", "BZMPOP", "BITOP":
            return .key(name == "BITOP" ? 2 : 3)
        case "OBJECT", "MEMORY", "XINFO", "XGROUP":
            return count > 2 ? .key(2) : .none
        case "XREAD", "XREADGROUP":
            var index = 1
            while let argument = argumentString(at: index) {
                if argument.uppercased() == "STREAMS" { return .key(index + 1) }
                index += 1
            }
            return .none
        case "FLUSHDB", "FLUSHALL":
            return .allMasters(.first)
        case "KEYS":
            return .allMasters(.concatenate)
        case "DBSIZE":
            return .allMasters(.sum)
        case "SCRIPT":
            switch argumentString(at: 1)?.uppercased() {
            case "LOAD", "FLUSH": return .allMasters(.first)
            default: return .none
            }
        case "FUNCTION":
            switch argumentString(at: 1)?.uppercased() {
            case "LOAD", "FLUSH", "DELETE", "RESTORE": return .allMasters(.first)
            default: return .none
            }
        case "PING", "ECHO", "INFO", "TIME", "PUBLISH", "PUBSUB", "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE",
            "PUNSUBSCRIBE", "CLIENT", "CONFIG", "CLUSTER", "COMMAND", "RANDOMKEY", "SCAN", "ROLE", "HELLO",
            "AUTH", "SELECT", "MULTI", "EXEC", "DISCARD", "UNWATCH", "LASTSAVE", "SAVE", "BGSAVE",
            "BGREWRITEAOF", "SLOWLOG", "LATENCY", "ACL", "READONLY", "READWRITE", "ASKING", "WAIT", "MIGRATE",
            "SWAPDB", "MONITOR", "SHUTDOWN", "FAILOVER", "REPLICAOF", "SLAVEOF", "LOLWUT", "RESET", "QUIT",
            "MODULE", "SENTINEL", "DEBUG":
            return .none
        default:
            return count > 1 ? .key(1) : .none
        }
    }
}
