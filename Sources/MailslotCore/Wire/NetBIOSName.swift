/// A NetBIOS name: 15 name bytes, a one-byte suffix ("name type") and an optional scope.
///
/// On the wire (RFC 1001 §14, RFC 1002 §4.1) the 16 raw bytes are "first-level encoded": each byte
/// becomes two characters, `'A' + high nibble` and `'A' + low nibble`, giving a 32-byte label that is
/// prefixed by its length (0x20) and followed by the scope labels (each length-prefixed) and a 0x00
/// terminator. Without a scope the encoded name is 34 bytes.
///
/// ```
/// let name = try NetBIOSName("hosta", suffix: 0x00)
/// name.description           // "HOSTA<00>"
/// name.encoded().count       // 34
/// ```
public struct NetBIOSName: Sendable, Hashable, CustomStringConvertible {
    /// Number of name bytes before the suffix.
    public static let rawNameLength = 15
    /// Length of the first-level encoded label (always 32).
    public static let encodedLabelLength = 32
    /// Encoded length of a name without scope: length byte + 32 + terminator.
    public static let encodedLengthWithoutScope = 34
    /// Largest allowed encoded name, including length bytes and the terminator.
    public static let maximumEncodedLength = 255
    /// Largest allowed scope label.
    public static let maximumLabelLength = 63

    /// The 15 raw name bytes exactly as they appear before encoding (space padded, or NUL padded for
    /// the wildcard `*`). Authoritative for equality.
    public let rawName: [UInt8]
    /// The 16th byte, e.g. 0x00 workstation, 0x1D local master browser, 0x1E browser election.
    public let suffix: UInt8
    /// Scope labels (the "NetBIOS scope"), empty in nearly all networks.
    public let scope: [String]

    /// The name with trailing padding removed (trailing spaces; for the wildcard also the NULs),
    /// one Unicode scalar per byte (ISO 8859-1), so control bytes such as `\u{01}` are preserved.
    public var name: String {
        WireBytes.latin1String(trimmedRawName)
    }

    /// `rawName` without trailing padding.
    public var trimmedRawName: [UInt8] {
        if isWildcard { return [0x2A] }
        var end = rawName.count
        while end > 0 && rawName[end - 1] == 0x20 { end -= 1 }
        return Array(rawName[0..<end])
    }

    /// True for the wildcard name `*` (padded with NULs).
    public var isWildcard: Bool {
        rawName.first == 0x2A && rawName.dropFirst().allSatisfy { $0 == 0 }
    }

    /// Creates a name from text, upper-casing ASCII letters and padding to 15 bytes with spaces
    /// (`*` is padded with NULs). Each Unicode scalar must be at most U+00FF and becomes one byte.
    ///
    /// - Throws: ``NetBIOSNameError`` if the name is empty, longer than 15 bytes, has a character
    ///   that is not a single byte, or the scope is invalid.
    public init(_ name: String, suffix: UInt8 = 0x00, scope: [String] = []) throws(NetBIOSNameError) {
        guard let bytes = WireBytes.latin1Bytes(name) else {
            throw .invalidCharacter(name)
        }
        guard !bytes.isEmpty else { throw .emptyName }
        guard bytes.count <= NetBIOSName.rawNameLength else {
            throw .nameTooLong(length: bytes.count)
        }
        let upper = bytes.map(WireBytes.asciiUppercased)
        let pad: UInt8 = upper == [0x2A] ? 0x00 : 0x20
        let raw = upper + [UInt8](repeating: pad, count: NetBIOSName.rawNameLength - upper.count)
        try self.init(rawName: raw, suffix: suffix, scope: scope)
    }

    /// Creates a name from exactly 15 raw bytes (no case change, no padding added).
    ///
    /// - Throws: ``NetBIOSNameError/rawNameWrongLength(_:)`` unless `rawName` has 15 bytes, or a
    ///   scope error.
    public init(rawName: [UInt8], suffix: UInt8, scope: [String] = []) throws(NetBIOSNameError) {
        guard rawName.count == NetBIOSName.rawNameLength else {
            throw .rawNameWrongLength(rawName.count)
        }
        var total = 1 + NetBIOSName.encodedLabelLength + 1
        for label in scope {
            guard let bytes = WireBytes.latin1Bytes(label) else { throw .invalidScopeLabel(label) }
            guard !bytes.isEmpty, bytes.count <= NetBIOSName.maximumLabelLength else {
                throw .invalidScopeLabel(label)
            }
            total += 1 + bytes.count
        }
        guard total <= NetBIOSName.maximumEncodedLength else { throw .encodedNameTooLong(length: total) }
        self.rawName = rawName
        self.suffix = suffix
        self.scope = scope
    }

    /// Internal unchecked initialiser used by the decoder (which validated everything already).
    init(validatedRawName: [UInt8], suffix: UInt8, scope: [String]) {
        self.rawName = validatedRawName
        self.suffix = suffix
        self.scope = scope
    }

    /// The 16 raw bytes: name + suffix.
    public var rawBytes: [UInt8] { rawName + [suffix] }

    /// `NAME<xx>` with non-printable bytes written as `<xx>` (lower-case hex), followed by
    /// `.label` for each scope label. Example: `<01><02>__MSBROWSE__<02><01>`.
    public var description: String {
        var text = ""
        for byte in trimmedRawName {
            if byte >= 0x20 && byte < 0x7F {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "<" + WireBytes.hex(byte) + ">"
            }
        }
        text += "<" + WireBytes.hex(suffix) + ">"
        for label in scope {
            text += "." + label
        }
        return text
    }

    /// The 32 first-level encoded characters (no length byte, no scope), as text.
    public var encodedLabel: String {
        String(decoding: encoded()[1...NetBIOSName.encodedLabelLength], as: UTF8.self)
    }

    /// The full wire form: 0x20, 32 encoded characters, scope labels, 0x00.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// Appends the wire form to `out`.
    public func encode(into out: inout [UInt8]) {
        out.append(UInt8(NetBIOSName.encodedLabelLength))
        for byte in rawBytes {
            out.append(0x41 &+ (byte >> 4))
            out.append(0x41 &+ (byte & 0x0F))
        }
        for label in scope {
            // Validated at construction: every scalar ≤ U+00FF, 1...63 of them.
            let bytes = WireBytes.latin1Bytes(label) ?? []
            out.append(UInt8(truncatingIfNeeded: bytes.count))
            out.append(contentsOf: bytes)
        }
        out.append(0x00)
    }

    /// Number of bytes ``encoded()`` produces.
    public var encodedLength: Int {
        scope.reduce(NetBIOSName.encodedLengthWithoutScope) { $0 + 1 + $1.unicodeScalars.count }
    }

    /// Decodes one encoded name that starts at `offset` in `bytes`.
    ///
    /// Validates the first length byte (must be 32), every encoded character ('A'...'P'), scope label
    /// lengths (≤ 63), the total length (≤ 255) and rejects DNS compression pointers.
    ///
    /// - Returns: the name and the offset just past its terminating 0x00.
    public static func decode(
        from bytes: [UInt8], at offset: Int
    ) throws(NetBIOSNameDecodeError) -> (name: NetBIOSName, end: Int) {
        guard offset >= 0, offset < bytes.count else { throw .truncated }
        let first = bytes[offset]
        if first >= 0xC0 { throw .compressionPointer }
        guard first == UInt8(encodedLabelLength) else { throw .badLength(first) }
        guard bytes.count - offset > 1 + encodedLabelLength else { throw .truncated }
        var raw = [UInt8]()
        raw.reserveCapacity(16)
        var position = offset + 1
        for _ in 0..<16 {
            let high = bytes[position]
            let low = bytes[position + 1]
            guard high >= 0x41, high <= 0x50 else { throw .badCharacter(high) }
            guard low >= 0x41, low <= 0x50 else { throw .badCharacter(low) }
            raw.append((high - 0x41) << 4 | (low - 0x41))
            position += 2
        }
        var scope: [String] = []
        var total = 1 + encodedLabelLength
        while true {
            guard position < bytes.count else { throw .truncated }
            let length = bytes[position]
            position += 1
            total += 1
            if length == 0 { break }
            if length >= 0xC0 { throw .compressionPointer }
            guard Int(length) <= maximumLabelLength else { throw .labelTooLong(length) }
            total += Int(length)
            guard total <= maximumEncodedLength else { throw .nameTooLong }
            guard bytes.count - position >= Int(length) else { throw .truncated }
            scope.append(WireBytes.latin1String(bytes[position..<(position + Int(length))]))
            position += Int(length)
        }
        guard total <= maximumEncodedLength else { throw .nameTooLong }
        let name = NetBIOSName(
            validatedRawName: Array(raw[0..<rawNameLength]), suffix: raw[rawNameLength], scope: scope)
        return (name, position)
    }

    /// Decodes a buffer that holds exactly one encoded name (nothing may follow it).
    public init(encoded bytes: some Collection<UInt8>) throws(NetBIOSNameDecodeError) {
        let array = Array(bytes)
        let (name, end) = try NetBIOSName.decode(from: array, at: 0)
        guard end == array.count else { throw .trailingBytes(array.count - end) }
        self = name
    }
}

/// Why a ``NetBIOSName`` could not be constructed.
public enum NetBIOSNameError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name text is empty.
    case emptyName
    /// The name has more than 15 bytes.
    case nameTooLong(length: Int)
    /// A character of the name is above U+00FF and cannot be one byte.
    case invalidCharacter(String)
    /// `rawName` was not exactly 15 bytes.
    case rawNameWrongLength(Int)
    /// A scope label is empty, longer than 63 bytes or not representable as bytes.
    case invalidScopeLabel(String)
    /// The encoded name would exceed 255 bytes.
    case encodedNameTooLong(length: Int)

    public var description: String {
        switch self {
        case .emptyName: "NetBIOS name is empty"
        case .nameTooLong(let length): "NetBIOS name has \(length) bytes; at most 15 are allowed"
        case .invalidCharacter(let name): "NetBIOS name \(name.debugDescription) has a character above U+00FF"
        case .rawNameWrongLength(let count): "raw NetBIOS name must be 15 bytes, got \(count)"
        case .invalidScopeLabel(let label): "invalid NetBIOS scope label \(label.debugDescription) (must be 1...63 single-byte characters)"
        case .encodedNameTooLong(let length): "encoded NetBIOS name would be \(length) bytes; at most 255 are allowed"
        }
    }
}

/// Why an encoded NetBIOS name could not be decoded.
public enum NetBIOSNameDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The buffer ended inside the name.
    case truncated
    /// The first length byte is not 32.
    case badLength(UInt8)
    /// An encoded character is outside 'A'...'P'.
    case badCharacter(UInt8)
    /// A DNS-style compression pointer (top bits 11) where a label was expected.
    case compressionPointer
    /// A scope label length byte between 64 and 191 (top bits 01 or 10).
    case labelTooLong(UInt8)
    /// The whole encoded name exceeds 255 bytes.
    case nameTooLong
    /// Bytes follow the name where none were expected.
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case .truncated: "encoded NetBIOS name is truncated"
        case .badLength(let byte): "first label length is \(byte), expected 32"
        case .badCharacter(let byte): "encoded character \(WireBytes.hex8(byte)) is not in 'A'...'P'"
        case .compressionPointer: "compression pointer where a NetBIOS name label was expected"
        case .labelTooLong(let length): "scope label length \(length) exceeds 63"
        case .nameTooLong: "encoded NetBIOS name exceeds 255 bytes"
        case .trailingBytes(let count): "\(count) byte(s) follow the encoded NetBIOS name"
        }
    }

    /// A stable short key, e.g. for counters.
    public var reason: String {
        switch self {
        case .truncated: "name-truncated"
        case .badLength: "name-bad-length"
        case .badCharacter: "name-bad-character"
        case .compressionPointer: "name-compression-pointer"
        case .labelTooLong: "name-label-too-long"
        case .nameTooLong: "name-too-long"
        case .trailingBytes: "name-trailing-bytes"
        }
    }
}
