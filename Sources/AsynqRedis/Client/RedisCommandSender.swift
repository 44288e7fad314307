/// Something commands can be sent through: a ``RedisClient`` (pooled) or a ``RedisConnection``.
/// The typed commands are defined once on this protocol.
public protocol RedisCommandSender: Sendable {
    /// Sends one command; an error reply is thrown as `RedisClientError` with code `.serverError`.
    @discardableResult
    func send(_ command: RedisCommand) async throws -> RESPToken
    /// Sends commands in one write; one result per command, in order.
    func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>]
}

extension RedisClient: RedisCommandSender {}
extension RedisConnection: RedisCommandSender {}
