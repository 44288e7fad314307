/// A key the dashboard understands.
package enum DashKey: Hashable, Sendable {
    case up
    case down
    case left
    case right
    case pageUp
    case pageDown
    case home
    case end
    case enter
    case escape
    case backspace
    case tab
    case backTab
    case delete
    case ctrlC
    case ctrlL
    case ctrlZ
    case character(Character)
}

/// Turns the bytes a terminal in raw mode sends into keys: UTF-8 text, control characters and
/// the usual escape sequences (CSI `ESC [` and SS3 `ESC O` forms, with or without modifiers).
///
/// Bytes may arrive split anywhere: an incomplete sequence waits for the next ``feed(_:)``. A
/// lone ESC is ambiguous (the Escape key, or the start of a sequence), so it waits too; the
/// reader calls ``flush()`` when no byte followed within a short time, which makes it Escape.
package struct DashKeyDecoder: Sendable {
    private var buffer: [UInt8] = []

    package init() {}

    /// Whether bytes wait for the rest of a sequence (the reader then waits briefly for more).
    package var hasPending: Bool { !buffer.isEmpty }

    package mutating func feed(_ bytes: some Sequence<UInt8>) -> [DashKey] {
        buffer.append(contentsOf: bytes)
        return decode(final: false)
    }

    /// Decodes what is left as if nothing more will come (a lone ESC becomes Escape).
    package mutating func flush() -> [DashKey] {
        decode(final: true)
    }

    private enum Step {
        case key(DashKey?, consumed: Int)
        case incomplete
    }

    private mutating func decode(final: Bool) -> [DashKey] {
        var keys: [DashKey] = []
        var index = 0
        while index < buffer.count {
            switch step(at: index, final: final) {
            case .key(let key, let consumed):
                if let key { keys.append(key) }
                index += consumed
            case .incomplete:
                buffer.removeFirst(index)
                return keys
            }
        }
        buffer.removeAll()
        return keys
    }

    private func step(at index: Int, final: Bool) -> Step {
        let byte = buffer[index]
        switch byte {
        case 0x1B:
            return escape(at: index, final: final)
        case 0x0D, 0x0A: return .key(.enter, consumed: 1)
        case 0x09: return .key(.tab, consumed: 1)
        case 0x7F, 0x08: return .key(.backspace, consumed: 1)
        case 0x03: return .key(.ctrlC, consumed: 1)
        case 0x0C: return .key(.ctrlL, consumed: 1)
        case 0x1A: return .key(.ctrlZ, consumed: 1)
        case 0x0E: return .key(.down, consumed: 1)  // Ctrl-N
        case 0x10: return .key(.up, consumed: 1)  // Ctrl-P
        case 0x00..<0x20: return .key(nil, consumed: 1)
        case 0x20..<0x80: return .key(.character(Character(Unicode.Scalar(byte))), consumed: 1)
        default:
            return utf8(at: index, final: final)
        }
    }

    private func utf8(at index: Int, final: Bool) -> Step {
        let lead = buffer[index]
        let length: Int
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return .key(nil, consumed: 1)
        }
        guard index + length <= buffer.count else {
            return final ? .key(nil, consumed: buffer.count - index) : .incomplete
        }
        let bytes = buffer[index..<index + length]
        guard let text = String(validating: bytes, as: UTF8.self), let character = text.first else {
            return .key(nil, consumed: 1)
        }
        return .key(.character(character), consumed: length)
    }

    private func escape(at index: Int, final: Bool) -> Step {
        guard index + 1 < buffer.count else { return final ? .key(.escape, consumed: 1) : .incomplete }
        let next = buffer[index + 1]
        switch next {
        case UInt8(ascii: "["):
            // CSI: parameter and intermediate bytes 0x20–0x3F, then a final byte 0x40–0x7E.
            var end = index + 2
            while end < buffer.count, (0x20...0x3F).contains(buffer[end]) { end += 1 }
            guard end < buffer.count else { return final ? .key(.escape, consumed: 1) : .incomplete }
            let terminator = buffer[end]
            guard (0x40...0x7E).contains(terminator) else { return .key(.escape, consumed: 1) }
            let parameters = String(decoding: buffer[(index + 2)..<end], as: UTF8.self)
            return .key(Self.csiKey(terminator, parameters: parameters), consumed: end - index + 1)
        case UInt8(ascii: "O"):
            guard index + 2 < buffer.count else { return final ? .key(.escape, consumed: 1) : .incomplete }
            return .key(Self.ss3Key(buffer[index + 2]), consumed: 3)
        case 0x1B:
            return .key(.escape, consumed: 1)
        default:
            // Alt+key: Escape, then the key itself on the next step.
            return .key(.escape, consumed: 1)
        }
    }

    private static func csiKey(_ terminator: UInt8, parameters: String) -> DashKey? {
        let first = parameters.split(separator: ";").first.flatMap { Int($0) }
        switch terminator {
        case UInt8(ascii: "A"): return .up
        case UInt8(ascii: "B"): return .down
        case UInt8(ascii: "C"): return .right
        case UInt8(ascii: "D"): return .left
        case UInt8(ascii: "H"): return .home
        case UInt8(ascii: "F"): return .end
        case UInt8(ascii: "Z"): return .backTab
        case UInt8(ascii: "~"):
            switch first {
            case 1, 7: return .home
            case 3: return .delete
            case 4, 8: return .end
            case 5: return .pageUp
            case 6: return .pageDown
            default: return nil
            }
        default: return nil
        }
    }

    private static func ss3Key(_ byte: UInt8) -> DashKey? {
        switch byte {
        case UInt8(ascii: "A"): return .up
        case UInt8(ascii: "B"): return .down
        case UInt8(ascii: "C"): return .right
        case UInt8(ascii: "D"): return .left
        case UInt8(ascii: "H"): return .home
        case UInt8(ascii: "F"): return .end
        case UInt8(ascii: "M"): return .enter
        default: return nil
        }
    }
}
