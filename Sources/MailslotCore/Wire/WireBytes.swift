// Internal byte-level helpers shared by the wire codecs.
//
// Everything here is bounds-checked: reads past the end return `nil` instead of trapping, and
// offsets are plain `Int`s derived from at most 16-bit wire fields, so they cannot overflow.
// The names carry a `Wire` prefix so that they cannot collide with other files of the module.

/// A cursor over a byte array that never reads out of bounds.
struct WireReader {
    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Bytes left after the cursor (never negative).
    var remaining: Int { offset < bytes.count ? bytes.count - offset : 0 }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= remaining else { return false }
        offset += count
        return true
    }

    mutating func readUInt8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readUInt16BE() -> UInt16? {
        guard let value = WireBytes.uint16BE(bytes, at: offset) else { return nil }
        offset += 2
        return value
    }

    mutating func readUInt32BE() -> UInt32? {
        guard let value = WireBytes.uint32BE(bytes, at: offset) else { return nil }
        offset += 4
        return value
    }

    mutating func readUInt16LE() -> UInt16? {
        guard let value = WireBytes.uint16LE(bytes, at: offset) else { return nil }
        offset += 2
        return value
    }

    mutating func readUInt32LE() -> UInt32? {
        guard let value = WireBytes.uint32LE(bytes, at: offset) else { return nil }
        offset += 4
        return value
    }

    mutating func readUInt64LE() -> UInt64? {
        guard offset >= 0, remaining >= 8 else { return nil }
        var value: UInt64 = 0
        for index in 0..<8 {
            value |= UInt64(bytes[offset + index]) << (8 * UInt64(index))
        }
        offset += 8
        return value
    }
}

/// Namespace for stateless byte helpers.
enum WireBytes {
    static func uint16BE(_ bytes: [UInt8], at offset: Int) -> UInt16? {
        guard offset >= 0, offset <= bytes.count - 2 else { return nil }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    static func uint32BE(_ bytes: [UInt8], at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count - 4 else { return nil }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    static func uint16LE(_ bytes: [UInt8], at offset: Int) -> UInt16? {
        guard offset >= 0, offset <= bytes.count - 2 else { return nil }
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    static func uint32LE(_ bytes: [UInt8], at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= bytes.count - 4 else { return nil }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
            | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    static func appendUInt16BE(_ value: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value))
    }

    static func appendUInt32BE(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value >> 24))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value))
    }

    static func appendUInt16LE(_ value: UInt16, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
    }

    static func appendUInt32LE(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 24))
    }

    static func appendUInt64LE(_ value: UInt64, to out: inout [UInt8]) {
        for index in 0..<8 {
            out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))))
        }
    }

    /// Rounds a non-negative value up to the next multiple of 4.
    static func roundUp4(_ value: Int) -> Int {
        (value + 3) & ~3
    }

    /// Bytes → String, one Unicode scalar per byte (ISO 8859-1). Lossless and never fails.
    static func latin1String<C: Collection<UInt8>>(_ bytes: C) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(bytes.count)
        for byte in bytes {
            result.unicodeScalars.append(Unicode.Scalar(byte))
        }
        return result
    }

    /// String → bytes, one byte per Unicode scalar; `nil` if a scalar is above U+00FF.
    static func latin1Bytes(_ string: String) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(string.unicodeScalars.count)
        for scalar in string.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            result.append(UInt8(scalar.value))
        }
        return result
    }

    static func asciiUppercased(_ byte: UInt8) -> UInt8 {
        (byte >= 0x61 && byte <= 0x7A) ? byte - 0x20 : byte
    }

    /// Case-insensitive (ASCII) prefix test.
    static func hasPrefixCaseInsensitive(_ bytes: [UInt8], _ prefix: [UInt8]) -> Bool {
        guard bytes.count >= prefix.count else { return false }
        for index in 0..<prefix.count where asciiUppercased(bytes[index]) != asciiUppercased(prefix[index]) {
            return false
        }
        return true
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Two lower-case hex digits.
    static func hex(_ byte: UInt8) -> String {
        String(decoding: [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]], as: UTF8.self)
    }

    /// `0x`-prefixed, zero-padded lower-case hex of a 16-bit value.
    static func hex16(_ value: UInt16) -> String {
        "0x" + hex(UInt8(truncatingIfNeeded: value >> 8)) + hex(UInt8(truncatingIfNeeded: value))
    }

    /// `0x`-prefixed, zero-padded lower-case hex of a 32-bit value.
    static func hex32(_ value: UInt32) -> String {
        "0x" + hex(UInt8(truncatingIfNeeded: value >> 24)) + hex(UInt8(truncatingIfNeeded: value >> 16))
            + hex(UInt8(truncatingIfNeeded: value >> 8)) + hex(UInt8(truncatingIfNeeded: value))
    }

    /// `0x`-prefixed hex of a byte.
    static func hex8(_ value: UInt8) -> String {
        "0x" + hex(value)
    }

    /// Dotted-quad text of an IPv4 address held as a big-endian-ordered `UInt32`.
    static func ipv4String(_ address: UInt32) -> String {
        "\(address >> 24).\((address >> 16) & 0xFF).\((address >> 8) & 0xFF).\(address & 0xFF)"
    }

    /// Pads `text` with spaces on the right to `width` characters.
    static func padded(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text + " " : text + String(repeating: " ", count: width - count)
    }
}
