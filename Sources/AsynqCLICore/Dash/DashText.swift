/// A terminal colour (the eight ANSI colours; the terminal's palette decides the shade).
package enum DashColor: Int, Hashable, Sendable {
    case black = 0
    case red = 1
    case green = 2
    case yellow = 3
    case blue = 4
    case magenta = 5
    case cyan = 6
    case white = 7
}

/// How a piece of text looks on the terminal.
package struct DashStyle: Hashable, Sendable {
    package var bold = false
    package var dim = false
    package var underline = false
    package var reverse = false
    package var foreground: DashColor?

    package init(
        bold: Bool = false, dim: Bool = false, underline: Bool = false, reverse: Bool = false,
        foreground: DashColor? = nil
    ) {
        self.bold = bold
        self.dim = dim
        self.underline = underline
        self.reverse = reverse
        self.foreground = foreground
    }

    package static let plain = DashStyle()
    package static let bold = DashStyle(bold: true)
    package static let dim = DashStyle(dim: true)
    package static let reverse = DashStyle(reverse: true)

    package static func color(_ color: DashColor, bold: Bool = false) -> DashStyle {
        DashStyle(bold: bold, foreground: color)
    }

    /// The SGR sequence that selects this style from the default one (empty for `.plain`).
    package var sgr: String {
        var codes: [String] = []
        if bold { codes.append("1") }
        if dim { codes.append("2") }
        if underline { codes.append("4") }
        if reverse { codes.append("7") }
        if let foreground { codes.append(String(30 + foreground.rawValue)) }
        return codes.isEmpty ? "" : "\u{1B}[" + codes.joined(separator: ";") + "m"
    }
}

/// A run of text in one style.
package struct DashSpan: Hashable, Sendable {
    package var text: String
    package var style: DashStyle

    package init(_ text: String, _ style: DashStyle = .plain) {
        self.text = text
        self.style = style
    }
}

/// One screen row: spans of styled text, at most as wide as the screen.
package struct DashLine: Hashable, Sendable, ExpressibleByStringLiteral {
    package var spans: [DashSpan]

    package init(_ spans: [DashSpan] = []) {
        self.spans = spans
    }

    package init(_ text: String, _ style: DashStyle = .plain) {
        spans = text.isEmpty ? [] : [DashSpan(text, style)]
    }

    package init(stringLiteral value: String) {
        self.init(value)
    }

    /// The characters, without styles.
    package var text: String { spans.map(\.text).joined() }

    /// Terminal cells the line takes.
    package var width: Int { spans.reduce(0) { $0 + TerminalText.width($1.text) } }

    package mutating func append(_ text: String, _ style: DashStyle = .plain) {
        guard !text.isEmpty else { return }
        if let last = spans.last, last.style == style {
            spans[spans.count - 1].text += text
        } else {
            spans.append(DashSpan(text, style))
        }
    }

    package mutating func append(_ line: DashLine) {
        for span in line.spans { append(span.text, span.style) }
    }

    /// At most `width` cells; text cut off ends with `ellipsis` (when it fits).
    package func truncated(to width: Int, ellipsis: String) -> DashLine {
        guard self.width > width else { return self }
        let room = max(0, width - TerminalText.width(ellipsis))
        var result = DashLine()
        var used = 0
        for span in spans {
            let spanWidth = TerminalText.width(span.text)
            if used + spanWidth <= room {
                result.append(span.text, span.style)
                used += spanWidth
                continue
            }
            result.append(TerminalText.prefix(span.text, width: room - used), span.style)
            result.append(ellipsis.count <= width ? ellipsis : "", span.style)
            return result
        }
        return result
    }

    /// Padded with spaces in `style` to exactly `width` cells (truncated first when wider).
    package func filled(to width: Int, style: DashStyle = .plain, ellipsis: String = "") -> DashLine {
        var line = truncated(to: width, ellipsis: ellipsis)
        let missing = width - line.width
        if missing > 0 { line.append(String(repeating: " ", count: missing), style) }
        return line
    }

    /// Without the spaces at its end (left by empty cells), unless they are visible (reverse
    /// video or underlined).
    package func trimmingTrailingSpaces() -> DashLine {
        var line = self
        while let last = line.spans.last, !last.style.reverse, !last.style.underline, last.text.last == " " {
            var text = last.text
            while text.last == " " { text.removeLast() }
            if text.isEmpty {
                line.spans.removeLast()
            } else {
                line.spans[line.spans.count - 1].text = text
            }
        }
        return line
    }

    /// The same text with `style` applied over every span (e.g. a selected row).
    package func restyled(_ transform: (DashStyle) -> DashStyle) -> DashLine {
        var line = DashLine()
        for span in spans { line.append(span.text, transform(span.style)) }
        return line
    }
}

/// Cell widths and safe text for a character terminal.
package enum TerminalText {
    /// Terminal cells `text` takes: wide (East Asian, emoji) characters take two, combining
    /// marks and format characters none.
    package static func width(_ text: String) -> Int {
        var total = 0
        for character in text { total += width(of: character) }
        return total
    }

    package static func width(of character: Character) -> Int {
        if character.isASCII {
            guard let value = character.asciiValue else { return 1 }  // "\r\n"
            return value >= 0x20 && value != 0x7F ? 1 : 0
        }
        var result = 0
        for (index, scalar) in character.unicodeScalars.enumerated() {
            if index == 0 {
                result = width(of: scalar)
            } else if scalar == "\u{FE0F}" {
                result = max(result, 2)  // emoji presentation selector
            }
        }
        return result
    }

    static func width(of scalar: Unicode.Scalar) -> Int {
        let value = scalar.value
        if value < 0x20 || (0x7F..<0xA0).contains(value) { return 0 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if (0x1160...0x11FF).contains(value) { return 0 }  // Hangul medial vowels, final consonants
        if scalar.properties.isEmojiPresentation { return 2 }
        for range in wideRanges where range.contains(value) { return 2 }
        return 1
    }

    /// East Asian Wide and Fullwidth blocks (beyond emoji, which use their property).
    private static let wideRanges: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF,
        0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF,
        0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F,
        0x1F900...0x1F9FF, 0x20000...0x2FFFD, 0x30000...0x3FFFD,
    ]

    /// The longest prefix of `text` that takes at most `width` cells.
    package static func prefix(_ text: String, width: Int) -> String {
        var result = ""
        var used = 0
        for character in text {
            let cells = self.width(of: character)
            if used + cells > width { break }
            result.append(character)
            used += cells
        }
        return result
    }

    /// `text` cut to `width` cells, ending with `ellipsis` when something was cut.
    package static func truncate(_ text: String, to width: Int, ellipsis: String) -> String {
        guard self.width(text) > width else { return text }
        let ellipsisWidth = self.width(ellipsis)
        guard width >= ellipsisWidth else { return prefix(text, width: width) }
        return prefix(text, width: width - ellipsisWidth) + ellipsis
    }

    /// `text` padded with spaces to `width` cells (left-aligned, or right-aligned).
    package static func pad(_ text: String, to width: Int, right: Bool = false) -> String {
        let missing = width - self.width(text)
        guard missing > 0 else { return text }
        let spaces = String(repeating: " ", count: missing)
        return right ? spaces + text : text + spaces
    }

    /// One line of text safe to print: tabs and line breaks become spaces (runs of white space
    /// collapse to one), other control characters (an escape sequence's ESC among them) U+FFFD,
    /// bidirectional overrides are dropped; with `ascii`, every non-ASCII character becomes `?`.
    package static func sanitize(_ text: String, ascii: Bool) -> String {
        var result = ""
        var lastWasSpace = false
        for character in text {
            if character.isWhitespace {
                if !lastWasSpace { result.append(" ") }
                lastWasSpace = true
                continue
            }
            lastWasSpace = false
            if character.isASCII {
                let value = character.asciiValue ?? 0
                result.append(value < 0x20 || value == 0x7F ? (ascii ? "?" : "\u{FFFD}") : character)
            } else if ascii {
                result.append("?")
            } else if character.unicodeScalars.contains(where: { width(of: $0) == 0 && $0.value < 0xA0 }) {
                result.append("\u{FFFD}")
            } else if character.unicodeScalars.contains(where: isBidiControl) {
                continue  // would reorder the rest of the row on some terminals
            } else {
                result.append(character)
            }
        }
        return result
    }

    private static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
    }

    /// Cuts `text` (already one line) into lines of at most `width` cells, breaking at spaces
    /// where possible.
    package static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [text] }
        var lines: [String] = []
        var rest = Substring(text)
        while self.width(String(rest)) > width {
            var cut = rest.startIndex
            var used = 0
            var lastSpace: Substring.Index?
            var index = rest.startIndex
            while index < rest.endIndex {
                let cells = self.width(of: rest[index])
                if used + cells > width { break }
                if rest[index] == " " { lastSpace = index }
                used += cells
                index = rest.index(after: index)
                cut = index
            }
            if cut == rest.startIndex { cut = rest.index(after: rest.startIndex) }  // a too-wide character
            if let space = lastSpace, space > rest.startIndex, cut < rest.endIndex, rest[cut] != " " {
                lines.append(String(rest[..<space]))
                rest = rest[rest.index(after: space)...]
            } else {
                lines.append(String(rest[..<cut]))
                rest = rest[cut...]
                while rest.first == " " { rest = rest.dropFirst() }
            }
        }
        if !rest.isEmpty || lines.isEmpty { lines.append(String(rest)) }
        return lines
    }
}
