/// Hex text helpers for tools and tests (`mailslot decode HEX`).
public enum HexText {
    /// Parses hex digits into bytes. Whitespace (spaces, tabs, newlines) and colons may appear
    /// anywhere and are ignored; an optional leading `0x` is accepted. Upper- and lower-case digits
    /// are accepted.
    ///
    /// - Throws: ``HexTextError/invalidCharacter(_:offset:)`` for any other character,
    ///   ``HexTextError/oddLength(digits:)`` if the number of digits is odd.
    public static func parse(_ text: String) throws(HexTextError) -> [UInt8] {
        var utf8 = Array(text.utf8)
        var start = 0
        // Skip leading whitespace, then an optional 0x.
        while start < utf8.count, isSeparator(utf8[start]) { start += 1 }
        if utf8.count - start >= 2, utf8[start] == 0x30, utf8[start + 1] == 0x78 || utf8[start + 1] == 0x58 {
            start += 2
        }
        utf8 = Array(utf8[start...])
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var pending: UInt8? = nil
        var digits = 0
        for (index, char) in utf8.enumerated() {
            if isSeparator(char) { continue }
            guard let value = digitValue(char) else {
                throw .invalidCharacter(character(at: index, in: utf8), offset: start + index)
            }
            digits += 1
            if let high = pending {
                bytes.append(high << 4 | value)
                pending = nil
            } else {
                pending = value
            }
        }
        guard pending == nil else { throw .oddLength(digits: digits) }
        return bytes
    }

    /// Contiguous lower-case hex, e.g. `ff534d42`.
    public static func string(from bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(WireBytes.hexDigits[Int(byte >> 4)])
            out.append(WireBytes.hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Classic dump lines: `0000  48 65 6c 6c 6f ...  Hello`, 16 bytes per line, non-printable
    /// bytes shown as `.` in the ASCII column.
    public static func dumpLines(_ bytes: some Collection<UInt8>, bytesPerLine: Int = 16) -> [String] {
        let all = Array(bytes)
        let width = max(1, bytesPerLine)
        var lines: [String] = []
        var offset = 0
        while offset < all.count {
            let end = min(offset + width, all.count)
            let chunk = all[offset..<end]
            var hexPart = chunk.map { WireBytes.hex($0) }.joined(separator: " ")
            let missing = width - chunk.count
            if missing > 0 { hexPart += String(repeating: "   ", count: missing) }
            var ascii = ""
            for byte in chunk {
                ascii.unicodeScalars.append(byte >= 0x20 && byte < 0x7F ? Unicode.Scalar(byte) : ".")
            }
            let position = WireBytes.hex(UInt8(truncatingIfNeeded: offset >> 8))
                + WireBytes.hex(UInt8(truncatingIfNeeded: offset))
            let prefix = offset > 0xFFFF
                ? WireBytes.hex(UInt8(truncatingIfNeeded: offset >> 24)) + WireBytes.hex(UInt8(truncatingIfNeeded: offset >> 16))
                : ""
            lines.append(prefix + position + "  " + hexPart + "  " + ascii)
            offset = end
        }
        return lines
    }

    static func isSeparator(_ char: UInt8) -> Bool {
        char == 0x20 || char == 0x09 || char == 0x0A || char == 0x0D || char == 0x3A
    }

    static func digitValue(_ char: UInt8) -> UInt8? {
        switch char {
        case 0x30...0x39: char - 0x30
        case 0x41...0x46: char - 0x41 + 10
        case 0x61...0x66: char - 0x61 + 10
        default: nil
        }
    }

    static func character(at index: Int, in utf8: [UInt8]) -> String {
        // Best effort: the scalar that starts at (or contains) this byte.
        var begin = index
        while begin > 0 && utf8[begin] & 0xC0 == 0x80 { begin -= 1 }
        var end = begin + 1
        while end < utf8.count && utf8[end] & 0xC0 == 0x80 { end += 1 }
        return String(decoding: utf8[begin..<end], as: UTF8.self)
    }
}

/// Why hex text could not be parsed.
public enum HexTextError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A character that is not a hex digit, whitespace or colon, at this UTF-8 byte offset.
    case invalidCharacter(String, offset: Int)
    /// An odd number of hex digits.
    case oddLength(digits: Int)

    public var description: String {
        switch self {
        case .invalidCharacter(let character, let offset):
            "invalid character \(character.debugDescription) at offset \(offset) in hex text"
        case .oddLength(let digits):
            "hex text has an odd number of digits (\(digits))"
        }
    }
}
