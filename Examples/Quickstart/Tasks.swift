import Asynq
import Foundation
import Logging

// The seed's two task types, as typed payloads (JSON on the wire, so Go workers can read them).

/// `email:deliver`: send a templated email to a user.
struct EmailDelivery: TaskPayload {
    static let taskType = "email:deliver"
    var userID: Int
    var templateID: String

    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case templateID = "template_id"
    }
}

/// `image:resize`: resize the image at a URL.
struct ImageResize: TaskPayload {
    static let taskType = "image:resize"
    var sourceURL: String

    enum CodingKeys: String, CodingKey {
        case sourceURL = "source_url"
    }
}

enum Handlers {
    static func deliverEmail(_ payload: EmailDelivery, context: TaskContext) async throws {
        context.logger.info("Sending email to user \(payload.userID) with template \(payload.templateID)")
        // … send the email …
    }

    static func resizeImage(_ payload: ImageResize, context: TaskContext) async throws {
        guard URL(string: payload.sourceURL) != nil else {
            // Retrying cannot fix a malformed URL: archive the task now.
            throw AsynqError.skipRetry("invalid source URL \(payload.sourceURL)")
        }
        context.logger.info("Resizing image \(payload.sourceURL)")
        // … resize the image …
    }
}
