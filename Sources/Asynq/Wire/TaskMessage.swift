package import Foundation
import SwiftProtobuf

/// The protobuf `asynq.TaskMessage` stored in the `msg` field of a task hash.
package typealias TaskMessage = Asynq_TaskMessage

extension Asynq_TaskMessage {
    /// Encodes with sorted map entries (deterministic, and byte-equal to Go for one header).
    package func encoded() throws(AsynqError) -> Data {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        do {
            return try serializedBytes(options: options)
        } catch {
            throw AsynqError(.internal, "could not encode task message: \(error)")
        }
    }

    /// Decodes `msg` bytes; a clear error for bytes that are not a TaskMessage.
    package static func decode(_ bytes: some Collection<UInt8>) throws(AsynqError) -> Asynq_TaskMessage {
        do {
            return try Asynq_TaskMessage(serializedBytes: Array(bytes))
        } catch {
            throw AsynqError(.malformedTask, "task message is not valid protobuf: \(error)")
        }
    }
}

extension String {
    /// Valid UTF-8 (Swift strings always are; protobuf-go rejects invalid UTF-8, so strings
    /// built from foreign bytes must be repaired before encoding — `String(decoding:as:)` does that).
    static func sanitized(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
