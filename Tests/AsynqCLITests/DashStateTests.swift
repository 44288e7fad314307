import Asynq
import AsynqCLICore
import Foundation
import Testing

@Suite("asynq dash: keys and state")
struct DashStateTests {
    @Test("queues view: selection stays in range; Enter opens the first state with tasks")
    func queuesSelection() {
        var state = DashTestData.state()
        #expect(state.fetchPlan == DashFetchPlan(overview: true))
        state.press(.up)
        #expect(state.selectedQueue == 0)
        state.press(.character("j"), .down, .down, .down)
        #expect(state.selectedQueue == 2)
        state.press(.character("k"))
        #expect(state.selectedQueue == 1)
        state.press(.home)
        #expect(state.selectedQueue == 0)
        state.press(.character("G"))
        #expect(state.selectedQueue == 2)

        state.press(.up, .enter)
        #expect(state.screen == .queue)
        #expect(state.queueScreen?.queue == "default")
        #expect(state.queueScreen?.state == .active)
        #expect(
            state.fetchPlan
                == DashFetchPlan(
                    queue: "default",
                    tasks: DashTaskListKey(queue: "default", state: .active, group: nil, page: 1, pageSize: 33)))
        state.press(.escape)
        #expect(state.screen == .queues)
        #expect(state.selectedQueue == 1)

        // A queue whose only tasks are pending opens on pending; an empty one too.
        state.press(.home, .character("l"))
        #expect(state.queueScreen?.state == .pending)
    }

    @Test("queue view: tabs wrap, digits jump, each change starts on page 1")
    func tabs() {
        var state = DashTestData.state()
        state.press(.down, .enter)
        state.press(.left)
        #expect(state.queueScreen?.state == .completed)
        state.press(.tab)
        #expect(state.queueScreen?.state == .active)
        state.press(.right, .character("l"))
        #expect(state.queueScreen?.state == .aggregating)
        #expect(state.fetchPlan.groups == "default")
        #expect(state.fetchPlan.tasks == nil)
        state.press(.backTab, .character("h"))
        #expect(state.queueScreen?.state == .active)
        state.press(.character("4"))
        #expect(state.queueScreen?.state == .scheduled)
        state.press(.character("9"))
        #expect(state.queueScreen?.state == .scheduled)
    }

    @Test("queue view: rows, pages (keys and moving past the ends), stale fetches ignored")
    func paging() {
        var state = DashTestData.state(width: 80, height: 24)  // 17 rows a page; 40 pending: 3 pages
        state.press(.down, .enter, .character("2"))
        #expect(state.pageSize == 17)
        #expect(state.pageCount == 3)
        let stalePlan = state.fetchPlan
        let page1 = (0..<17).map { TaskInfo(id: "p\($0)", queue: "default", type: "t", state: .pending) }
        DashTestData.answer(&state, tasks: page1)
        #expect(state.tasksAreCurrent)
        state.press(.end)
        #expect(state.queueScreen?.selected == 16)
        state.press(.down)
        #expect(state.queueScreen?.page == 2)
        #expect(state.queueScreen?.selected == 0)
        #expect(!state.tasksAreCurrent)
        // A fetch made for page 1 arriving late changes nothing.
        var late = DashSnapshot(plan: stalePlan, fetchedAt: DashTestData.now)
        late.tasks = page1
        state.apply(late)
        #expect(!state.tasksAreCurrent)
        DashTestData.answer(
            &state, tasks: (17..<34).map { TaskInfo(id: "p\($0)", queue: "default", type: "t", state: .pending) })
        state.press(.up)
        #expect(state.queueScreen?.page == 1)
        #expect(state.queueScreen?.selected == 16)
        state.press(.pageDown, .character("n"), .character("n"))
        #expect(state.queueScreen?.page == 3)
        state.press(.pageUp)
        #expect(state.queueScreen?.page == 2)
        state.press(.character("p"), .character("p"))
        #expect(state.queueScreen?.page == 1)

        // Tasks were deleted meanwhile: the page moves back into range.
        state.press(.pageDown, .pageDown)
        var shrunk = DashSnapshot(plan: state.fetchPlan, fetchedAt: DashTestData.now)
        shrunk.queueInfo = QueueInfo(queue: "default", pending: 5, timestamp: DashTestData.now)
        state.apply(shrunk)
        #expect(state.queueScreen?.page == 1)
        #expect(state.queueInfo?.pending == 5)
        #expect(state.queues[1].pending == 5)
    }

    @Test("task view: Enter opens, Esc returns to the same row")
    func taskView() {
        var state = DashTestData.state()
        state.press(.down, .enter, .character("5"))
        DashTestData.answer(&state, tasks: DashTestData.retryTasks(count: 2))
        state.press(.down, .enter)
        #expect(state.screen == .task)
        #expect(state.fetchPlan == DashFetchPlan(task: DashTaskKey(queue: "default", id: "retry-1")))
        #expect(state.task?.id == "retry-1")  // shown at once, refreshed by the fetch
        state.press(.backspace)
        #expect(state.screen == .queue)
        #expect(state.queueScreen?.selected == 1)
        state.press(.escape)
        #expect(state.screen == .queues)
    }

    @Test("task actions: run, archive, cancel, delete with y/n")
    func actions() {
        var state = DashTestData.state()
        state.press(.down, .enter, .character("5"))
        DashTestData.answer(&state, tasks: DashTestData.retryTasks(count: 2))
        #expect(state.press(.character("r")) == [.perform(.runTask(queue: "default", id: "retry-0"))])
        #expect(state.press(.character("a")) == [.perform(.archiveTask(queue: "default", id: "retry-0"))])
        #expect(state.press(.character("c")) == [])
        #expect(state.message?.text == "Only an active task can be cancelled")
        #expect(state.press(.character("d")) == [])
        #expect(state.confirmation?.prompt == #"Delete retry task retry-0 from queue "default"? [y/N]"#)
        #expect(state.press(.character("n")) == [])
        #expect(state.confirmation == nil)
        #expect(state.message?.text == "Cancelled")
        state.press(.down, .enter)
        #expect(state.press(.delete) == [])
        #expect(state.press(.character("y")) == [.perform(.deleteTask(queue: "default", id: "retry-1"))])
        // Deleted: back to the list, which is fetched again.
        #expect(
            state.finished(.deleteTask(queue: "default", id: "retry-1"), error: nil, now: DashTestData.now) == [.fetch])
        #expect(state.screen == .queue)
        #expect(state.message?.text == "Task retry-1 deleted")
        _ = state.finished(.runTask(queue: "default", id: "x"), error: "task is already running", now: DashTestData.now)
        #expect(state.message == DashMessage("task is already running", isError: true, at: DashTestData.now))

        // Active tasks can be cancelled, not deleted.
        state.press(.character("1"))
        DashTestData.answer(&state, tasks: [TaskInfo(id: "busy", queue: "default", type: "t", state: .active)])
        #expect(state.press(.character("c")) == [.perform(.cancelTask(id: "busy"))])
        #expect(state.press(.character("d")) == [])
        #expect(state.confirmation == nil)
        #expect(state.message?.isError == true)
    }

    @Test("pause and resume from both views follow the paused flag")
    func pause() {
        var state = DashTestData.state()
        #expect(state.press(.character("P")) == [.perform(.unpause(queue: "critical"))])
        state.press(.down)
        #expect(state.press(.character("P")) == [.perform(.pause(queue: "default"))])
        state.press(.home, .enter)
        #expect(state.press(.character("P")) == [.perform(.unpause(queue: "critical"))])
    }

    @Test("quit, help, redraw, suspend; Ctrl-C quits even at a prompt")
    func globalKeys() {
        var state = DashTestData.state()
        #expect(state.press(.character("q")) == [.quit])
        #expect(state.press(.ctrlC) == [.quit])
        #expect(state.press(.ctrlL) == [.redraw, .fetch])
        #expect(state.press(.ctrlZ) == [.suspend])
        state.press(.character("?"))
        #expect(state.showHelp)
        #expect(state.press(.down) == [])
        #expect(state.selectedQueue == 0)
        state.press(.escape)
        #expect(!state.showHelp)
        state.press(.enter, .character("2"))
        DashTestData.answer(&state, tasks: [TaskInfo(id: "p", queue: "critical", type: "t", state: .pending)])
        state.press(.character("d"))
        #expect(state.confirmation != nil)
        #expect(state.press(.ctrlC) == [.quit])
    }

    @Test("aggregating: groups, a group's tasks, back")
    func groups() {
        var state = DashTestData.state()
        state.press(.end, .enter)
        #expect(state.queueScreen?.state == .aggregating)
        DashTestData.answer(&state, groups: [GroupInfo(group: "g1", size: 20), GroupInfo(group: "g2", size: 1)])
        state.press(.down, .down)
        #expect(state.queueScreen?.groupSelected == 1)
        state.press(.up, .enter)
        #expect(
            state.fetchPlan.tasks
                == DashTaskListKey(queue: "low", state: .aggregating, group: "g1", page: 1, pageSize: 33))
        #expect(state.listCount == 20)
        state.press(.escape)
        #expect(state.queueScreen?.group == nil)
        #expect(state.screen == .queue)
        state.press(.escape)
        #expect(state.screen == .queues)
    }

    @Test("refreshed data keeps the selection on the same queue and the same task")
    func selectionFollows() {
        var state = DashTestData.state()
        state.press(.down)
        var snapshot = DashSnapshot(plan: DashFetchPlan(overview: true), fetchedAt: DashTestData.now)
        snapshot.queues = [QueueInfo(queue: "a-new-queue", timestamp: DashTestData.now)] + DashTestData.queues
        state.apply(snapshot)
        #expect(state.selectedQueue == 2)
        snapshot.queues = [DashTestData.queues[0]]
        state.apply(snapshot)
        #expect(state.selectedQueue == 0)

        state = DashTestData.state()
        state.press(.down, .enter, .character("5"))
        DashTestData.answer(&state, tasks: DashTestData.retryTasks(count: 3))
        state.press(.down, .down)
        // retry-0 was run meanwhile: retry-2 moved up a row and stays selected.
        DashTestData.answer(&state, tasks: Array(DashTestData.retryTasks(count: 3).dropFirst()))
        #expect(state.queueScreen?.selected == 1)
        // Gone altogether: the same row, within the list.
        DashTestData.answer(&state, tasks: Array(DashTestData.retryTasks(count: 1)))
        #expect(state.queueScreen?.selected == 0)
    }

    @Test("a resize changes the page size, hence the plan")
    func resize() {
        var state = DashTestData.state()
        state.press(.down, .enter)
        let before = state.fetchPlan
        state.size = DashSize(width: 100, height: 30)
        #expect(state.fetchPlan != before)
        #expect(state.fetchPlan.tasks?.pageSize == 23)
    }
}

@Suite("asynq dash: key decoding")
struct DashKeyDecoderTests {
    @Test("characters, control keys and escape sequences")
    func sequences() {
        var decoder = DashKeyDecoder()
        #expect(
            decoder.feed(Array("jk?q".utf8)) == [.character("j"), .character("k"), .character("?"), .character("q")])
        #expect(
            decoder.feed([0x0D, 0x0A, 0x09, 0x7F, 0x08, 0x03, 0x0C, 0x1A]) == [
                .enter, .enter, .tab, .backspace, .backspace, .ctrlC, .ctrlL, .ctrlZ,
            ])
        let csi =
            "\u{1B}[A\u{1B}[B\u{1B}[C\u{1B}[D\u{1B}[5~\u{1B}[6~\u{1B}[H\u{1B}[F\u{1B}[1~\u{1B}[4~\u{1B}[Z\u{1B}[3~"
        #expect(
            decoder.feed(Array(csi.utf8)) == [
                .up, .down, .right, .left, .pageUp, .pageDown, .home, .end, .home, .end, .backTab, .delete,
            ])
        #expect(decoder.feed(Array("\u{1B}OA\u{1B}OB\u{1B}[1;5C".utf8)) == [.up, .down, .right])
        #expect(decoder.feed(Array("é日".utf8)) == [.character("é"), .character("日")])
        #expect(!decoder.hasPending)
    }

    @Test("sequences split across reads; a lone ESC waits for flush")
    func split() {
        var decoder = DashKeyDecoder()
        #expect(decoder.feed([0x1B]) == [])
        #expect(decoder.hasPending)
        #expect(decoder.feed(Array("[".utf8)) == [])
        #expect(decoder.feed(Array("6~x".utf8)) == [.pageDown, .character("x")])
        #expect(decoder.feed([0xE6, 0x97]) == [])
        #expect(decoder.feed([0xA5]) == [.character("日")])
        #expect(decoder.feed([0x1B]) == [])
        #expect(decoder.flush() == [.escape])
        #expect(!decoder.hasPending)
        // Escape twice, and Alt+key as Escape then the key.
        #expect(decoder.feed([0x1B, 0x1B]) == [.escape])
        #expect(decoder.flush() == [.escape])
        #expect(decoder.feed(Array("\u{1B}q".utf8)) == [.escape, .character("q")])
        // Invalid bytes are dropped.
        #expect(decoder.feed([0xFF, 0x41]) == [.character("A")])
    }
}
