/// A node of a Redis Cluster that serves a queue's hash slot.
public struct ClusterNode: Sendable, Hashable {
    /// The node ID (empty when the server does not report one).
    public var id: String
    /// `host:port` (IPv6 hosts in brackets).
    public var address: String

    public init(id: String, address: String) {
        self.id = id
        self.address = address
    }
}
