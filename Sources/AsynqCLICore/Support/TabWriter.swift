/// Aligns tab-separated cells into columns exactly as Go's `text/tabwriter` does with the
/// settings the Go CLI uses (minimum width 0, tab width 8, padding 2, padding character space,
/// no flags), so tables line up character for character like the Go tool's.
///
/// The rules, restated: text is cut into cells at each tab; a line's last cell (the text after
/// its last tab) is not part of any column. A column is a run of consecutive lines that all
/// have a tab-terminated cell at that index; its width is its widest cell (in Unicode scalars)
/// plus the padding. Cells are left-aligned and padded with spaces, except an empty cell, which
/// is padded with tabs up to the next multiple of the tab width.
package struct TabWriter: Sendable {
    package var minimumWidth: Int
    package var tabWidth: Int
    package var padding: Int

    package init(minimumWidth: Int = 0, tabWidth: Int = 8, padding: Int = 2) {
        self.minimumWidth = minimumWidth
        self.tabWidth = tabWidth
        self.padding = padding
    }

    private struct Cell {
        var text: String
        var width: Int
    }

    /// Formats `text` (lines separated by `\n`, cells by `\t`).
    package func format(_ text: String) -> String {
        var lines: [[Cell]] = []
        var current: [Cell] = []
        var cellText = ""
        func endCell() {
            current.append(Cell(text: cellText, width: cellText.unicodeScalars.count))
            cellText = ""
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\t":
                endCell()
            case "\n":
                endCell()
                lines.append(current)
                current = []
            default:
                cellText.unicodeScalars.append(scalar)
            }
        }
        let endsWithNewline = current.isEmpty && cellText.isEmpty
        if !endsWithNewline {
            endCell()
            lines.append(current)
        }
        var output = ""
        var widths: [Int] = []
        formatBlock(lines, 0, lines.count, &widths, &output)
        // `writeLines` ends every line with a newline; a last line that had none keeps none.
        if !endsWithNewline, output.hasSuffix("\n") { output.removeLast() }
        return output
    }

    /// Go's recursive column formatting: finds the column blocks at index `widths.count` among
    /// lines `start..<end`, and formats each block with that column's width pushed.
    private func formatBlock(
        _ lines: [[Cell]],
        _ start: Int,
        _ end: Int,
        _ widths: inout [Int],
        _ output: inout String
    ) {
        let column = widths.count
        var lineStart = start
        var index = start
        while index < end {
            if column >= lines[index].count - 1 {
                index += 1
                continue
            }
            // A block starts here: print the lines before it.
            writeLines(lines, lineStart, index, widths, &output)
            lineStart = index
            var width = minimumWidth
            while index < end, column < lines[index].count - 1 {
                width = max(width, lines[index][column].width + padding)
                index += 1
            }
            widths.append(width)
            formatBlock(lines, lineStart, index, &widths, &output)
            widths.removeLast()
            lineStart = index
        }
        writeLines(lines, lineStart, end, widths, &output)
    }

    private func writeLines(
        _ lines: [[Cell]], _ start: Int, _ end: Int, _ widths: [Int], _ output: inout String
    ) {
        guard start < end else { return }
        for line in lines[start..<end] {
            for (index, cell) in line.enumerated() {
                if cell.text.isEmpty {
                    if index < widths.count { output += tabPadding(cellWidth: widths[index]) }
                } else {
                    output += cell.text
                    if index < widths.count {
                        output += String(repeating: " ", count: max(0, widths[index] - cell.width))
                    }
                }
            }
            output += "\n"
        }
    }

    /// An empty cell is padded with tabs (Go does so whatever the padding character).
    private func tabPadding(cellWidth: Int) -> String {
        guard tabWidth > 0 else { return "" }
        let rounded = (cellWidth + tabWidth - 1) / tabWidth * tabWidth
        return String(repeating: "\t", count: (rounded + tabWidth - 1) / tabWidth)
    }
}

/// The Go CLI's `printTable`: a header row, a row of dashes as long as each header (in bytes),
/// then the rows; every cell is tab-terminated, so every column (the last one too) is padded.
package enum Table {
    package static func render(
        headers: [String], rows: [[String]], separators: [String]? = nil
    )
        -> String
    {
        var text = ""
        func add(_ cells: [String]) {
            for cell in cells { text += sanitize(cell) + "\t" }
            text += "\n"
        }
        add(headers)
        add(separators ?? headers.map { String(repeating: "-", count: $0.utf8.count) })
        for row in rows { add(row) }
        return TabWriter().format(text)
    }

    /// A cell must not contain the characters that structure the table.
    private static func sanitize(_ cell: String) -> String {
        guard cell.unicodeScalars.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\r" }) else {
            return cell
        }
        return String(
            String.UnicodeScalarView(
                cell.unicodeScalars.map { $0 == "\t" || $0 == "\n" || $0 == "\r" ? " " : $0 })
        )
    }
}
