/// Which page of a listing to read, with Go asynq's defaults (page 1 of 30 items).
///
/// Values are clamped as Go's `Page(n)` / `PageSize(n)` clamp them: a negative page becomes 1
/// and a negative page size becomes 0. Go's quirks at the edges are kept, so the same
/// arguments read the same items as the Go inspector: a page size of 0 reads **every** item,
/// and page 0 reads the `pageSize` items that come *before* page 1, which Redis resolves from
/// the other end of the list or set (the last `pageSize` items).
public struct ListOptions: Sendable, Hashable {
    /// Go asynq's default page size.
    public static let defaultPageSize = 30
    /// Go asynq's default page number (1-based).
    public static let defaultPage = 1

    /// 1-based page number.
    public let page: Int
    /// Items per page.
    public let pageSize: Int

    public init(page: Int = ListOptions.defaultPage, pageSize: Int = ListOptions.defaultPageSize) {
        self.page = page < 0 ? 1 : page
        self.pageSize = max(0, pageSize)
    }

    /// Zero-based index of the first item (Go's `Pagination.start()`), saturating instead of
    /// overflowing for absurd page numbers.
    var start: Int {
        let (product, overflow) = pageSize.multipliedReportingOverflow(by: page - 1)
        return overflow ? (page > 0 ? Int.max / 2 : Int.min / 2) : product
    }

    /// Zero-based index of the last item (Go's `Pagination.stop()`).
    var stop: Int {
        let (sum, overflow) = start.addingReportingOverflow(pageSize - 1)
        return overflow ? Int.max : sum
    }
}
