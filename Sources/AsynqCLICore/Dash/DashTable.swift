/// A column of a dashboard table.
package struct DashColumn: Sendable {
    package var header: String
    /// Used when the table does not fit with the full headers.
    package var shortHeader: String
    package var alignRight: Bool
    /// 0: never dropped; when the table does not fit, the highest values go first.
    package var dropPriority: Int
    /// A flexible column may be cut down to `minWidth` (its text then ends with an ellipsis),
    /// and gets the room left over on wide terminals.
    package var flexible: Bool
    package var minWidth: Int
    /// A flexible column's preferred width at most (it may still grow into space left over).
    package var preferredMaxWidth: Int

    package init(
        _ header: String, short: String? = nil, alignRight: Bool = false, dropPriority: Int = 0,
        flexible: Bool = false, minWidth: Int = 4, preferredMaxWidth: Int = 40
    ) {
        self.header = header
        self.shortHeader = short ?? header
        self.alignRight = alignRight
        self.dropPriority = dropPriority
        self.flexible = flexible
        self.minWidth = minWidth
        self.preferredMaxWidth = preferredMaxWidth
    }
}

/// One cell: text (already sanitized) and its style.
package struct DashCell: Sendable, ExpressibleByStringLiteral {
    package var text: String
    package var style: DashStyle

    package init(_ text: String, _ style: DashStyle = .plain) {
        self.text = text
        self.style = style
    }

    package init(stringLiteral value: String) {
        self.init(value)
    }
}

/// Fits a table into a width: full headers and two spaces between columns when there is room;
/// else one space, short headers, flexible columns cut down, then low-priority columns dropped.
package struct DashTable: Sendable {
    package var columns: [DashColumn]
    package var rows: [[DashCell]]

    package init(columns: [DashColumn], rows: [[DashCell]]) {
        self.columns = columns
        self.rows = rows
    }

    package struct Layout: Sendable, Equatable {
        /// Indices of the columns shown, in order.
        package var visible: [Int]
        /// Width of every column (hidden ones included, unused).
        package var widths: [Int]
        package var gap: Int
        package var shortHeaders: Bool
        package var totalWidth: Int {
            visible.reduce(0) { $0 + widths[$1] } + gap * max(0, visible.count - 1)
        }
    }

    private func header(_ index: Int, short: Bool) -> String {
        short ? columns[index].shortHeader : columns[index].header
    }

    /// Widest cell of each column (not counting the header).
    private var contentWidths: [Int] {
        var widths = Array(repeating: 0, count: columns.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], TerminalText.width(cell.text))
            }
        }
        return widths
    }

    package func layout(width: Int) -> Layout {
        let content = contentWidths
        func natural(_ index: Int, short: Bool, capped: Bool) -> Int {
            let headerWidth = TerminalText.width(header(index, short: short))
            var cells = content[index]
            if capped, columns[index].flexible { cells = min(cells, columns[index].preferredMaxWidth) }
            return max(headerWidth, cells)
        }
        var visible = Array(columns.indices)
        // 1. Everything at its natural width, roomy then tight.
        for short in [false, true] {
            for gap in [2, 1] {
                let widths = columns.indices.map { natural($0, short: short, capped: true) }
                let layout = Layout(visible: visible, widths: widths, gap: gap, shortHeaders: short)
                if layout.totalWidth <= width { return grown(layout, width: width, content: content) }
            }
        }
        // 2. Flexible columns cut down, then columns dropped until it fits.
        while true {
            var widths = columns.indices.map { natural($0, short: true, capped: true) }
            var layout = Layout(visible: visible, widths: widths, gap: 1, shortHeaders: true)
            let minimum = visible.reduce(0) { total, index in
                total + (columns[index].flexible ? min(widths[index], columns[index].minWidth) : widths[index])
            }
            if minimum + max(0, visible.count - 1) <= width
                || !visible.contains(where: { columns[$0].dropPriority > 0 })
            {
                var excess = layout.totalWidth - width
                while excess > 0 {
                    guard
                        let widest = visible.filter({
                            columns[$0].flexible && widths[$0] > columns[$0].minWidth
                        }).max(by: { widths[$0] < widths[$1] })
                    else { break }
                    widths[widest] -= 1
                    excess -= 1
                }
                layout.widths = widths
                return layout
            }
            // Drop the highest drop priority, rightmost first.
            let victim = visible.filter { columns[$0].dropPriority > 0 }
                .max { (columns[$0].dropPriority, $0) < (columns[$1].dropPriority, $1) }
            visible.removeAll { $0 == victim }
        }
    }

    /// Gives the room left over to flexible columns whose text is wider than they are.
    private func grown(_ layout: Layout, width: Int, content: [Int]) -> Layout {
        var layout = layout
        var spare = width - layout.totalWidth
        for index in layout.visible where columns[index].flexible && spare > 0 {
            let wanted = content[index] - layout.widths[index]
            if wanted > 0 {
                let extra = min(wanted, spare)
                layout.widths[index] += extra
                spare -= extra
            }
        }
        return layout
    }

    package func headerLine(_ layout: Layout, style: DashStyle, ellipsis: String) -> DashLine {
        line(
            layout.visible.map { DashCell(header($0, short: layout.shortHeaders), style) }, layout: layout,
            ellipsis: ellipsis)
    }

    package func rowLine(_ row: Int, _ layout: Layout, ellipsis: String) -> DashLine {
        line(
            layout.visible.map { $0 < rows[row].count ? rows[row][$0] : DashCell("") }, layout: layout,
            ellipsis: ellipsis)
    }

    private func line(_ cells: [DashCell], layout: Layout, ellipsis: String) -> DashLine {
        var line = DashLine()
        for (position, (index, cell)) in zip(layout.visible, cells).enumerated() {
            if position > 0 { line.append(String(repeating: " ", count: layout.gap)) }
            let width = layout.widths[index]
            let text = TerminalText.truncate(cell.text, to: width, ellipsis: ellipsis)
            let padding = String(repeating: " ", count: max(0, width - TerminalText.width(text)))
            let isLast = position == layout.visible.count - 1
            if columns[index].alignRight {
                line.append(padding)
                line.append(text, cell.style)
            } else {
                line.append(text, cell.style)
                if !isLast { line.append(padding) }
            }
        }
        return line.trimmingTrailingSpaces()
    }
}
