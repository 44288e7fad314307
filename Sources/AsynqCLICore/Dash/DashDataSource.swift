package import Asynq
import Foundation

/// Reads what a view needs and makes the dashboard's changes, through the inspector.
package struct DashDataSource: Sendable {
    package let inspector: AsynqInspector

    package init(inspector: AsynqInspector) {
        self.inspector = inspector
    }

    /// Everything `plan` asks for. A queue removed between listing and reading is left out;
    /// a task that no longer exists comes back as nil; other errors are thrown.
    package func fetch(_ plan: DashFetchPlan) async throws(AsynqError) -> DashSnapshot {
        var snapshot = DashSnapshot(plan: plan, fetchedAt: Date())
        if plan.overview {
            var infos: [QueueInfo] = []
            for queue in try await inspector.queues().sorted() {
                do {
                    infos.append(try await inspector.queueInfo(queue))
                } catch  where error.code == .queueNotFound {
                    continue
                }
            }
            snapshot.queues = infos
            snapshot.servers = try await inspector.servers().sorted {
                ($0.host, $0.pid, $0.id) < ($1.host, $1.pid, $1.id)
            }
        }
        if let queue = plan.queue {
            snapshot.queueInfo = try await inspector.queueInfo(queue)
        }
        if let queue = plan.groups {
            snapshot.groups = try await inspector.groups(queue: queue).sorted { $0.group < $1.group }
        }
        if let key = plan.tasks {
            snapshot.tasks = try await inspector.listTasks(
                queue: key.queue, state: key.state, group: key.group, page: key.page, pageSize: key.pageSize)
        }
        if let key = plan.task {
            do {
                snapshot.task = try await inspector.taskInfo(queue: key.queue, id: key.id)
            } catch  where error.code == .taskNotFound || error.code == .queueNotFound {
                snapshot.task = nil
            }
        }
        snapshot.fetchedAt = Date()
        return snapshot
    }

    package func perform(_ operation: DashOperation) async throws(AsynqError) {
        switch operation {
        case .runTask(let queue, let id): try await inspector.runTask(queue: queue, id: id)
        case .archiveTask(let queue, let id): try await inspector.archiveTask(queue: queue, id: id)
        case .deleteTask(let queue, let id): try await inspector.deleteTask(queue: queue, id: id)
        case .cancelTask(let id): try await inspector.cancelProcessing(taskID: id)
        case .pause(let queue): try await inspector.pause(queue: queue)
        case .unpause(let queue): try await inspector.unpause(queue: queue)
        }
    }
}
