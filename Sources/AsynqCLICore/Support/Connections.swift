import Asynq
import AsynqRedis

extension GlobalOptions {
    /// Runs `body` with a client connected as these options say, and closes it afterwards.
    func withClient<T>(_ body: (AsynqClient) async throws -> T) async throws -> T {
        let options = try connectionOptions()
        let client = try AsynqClient(redis: options, logger: CLILogging.logger("asynq.client"))
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    /// Runs `body` with a Redis client and an inspector sharing it, and closes both afterwards.
    func withInspectorAndRedis<T>(
        _ body: (AsynqInspector, RedisClient) async throws -> T
    )
        async throws -> T
    {
        let options = try connectionOptions()
        let redis = try RedisClient(options: options, logger: CLILogging.logger("asynq.redis"))
        let inspector = AsynqInspector(redis: redis)
        do {
            let result = try await body(inspector, redis)
            await redis.close()
            return result
        } catch {
            await redis.close()
            throw error
        }
    }

    func withInspector<T>(_ body: (AsynqInspector) async throws -> T) async throws -> T {
        try await withInspectorAndRedis { inspector, _ in try await body(inspector) }
    }
}
