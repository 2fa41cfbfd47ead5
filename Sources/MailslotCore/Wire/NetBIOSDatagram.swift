/// NetBIOS datagram service message types (RFC 1002 §4.4, MSG_TYPE field).
public enum NetBIOSDatagramType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// 0x10 DIRECT_UNIQUE DATAGRAM: to a unique name (e.g. `COMPUTER<00>`).
    case directUnique = 0x10
    /// 0x11 DIRECT_GROUP DATAGRAM: to a group name (e.g. `DOMAIN<00>`, `WORKGROUP<1e>`).
    case directGroup = 0x11
    /// 0x12 BROADCAST DATAGRAM: to every node (destination `*`).
    case broadcast = 0x12
    /// 0x13 DATAGRAM ERROR.
    case error = 0x13
    /// 0x14 DATAGRAM QUERY REQUEST (to an NBDD).
    case queryRequest = 0x14
    /// 0x15 DATAGRAM POSITIVE QUERY RESPONSE.
    case positiveQueryResponse = 0x15
    /// 0x16 DATAGRAM NEGATIVE QUERY RESPONSE.
    case negativeQueryResponse = 0x16

    /// True for the three types that carry names and user data (0x10–0x12).
    public var carriesUserData: Bool {
        switch self {
        case .directUnique, .directGroup, .broadcast: true
        case .error, .queryRequest, .positiveQueryResponse, .negativeQueryResponse: false
        }
    }

    /// The RFC 1002 name, e.g. `DIRECT_UNIQUE`.
    public var description: String {
        switch self {
        case .directUnique: "DIRECT_UNIQUE"
        case .directGroup: "DIRECT_GROUP"
        case .broadcast: "BROADCAST"
        case .error: "DATAGRAM_ERROR"
        case .queryRequest: "DATAGRAM_QUERY_REQUEST"
        case .positiveQueryResponse: "DATAGRAM_POSITIVE_QUERY_RESPONSE"
        case .negativeQueryResponse: "DATAGRAM_NEGATIVE_QUERY_RESPONSE"
        }
    }
}

/// Source node type, bits 2–3 of the datagram FLAGS byte.
public enum NetBIOSNodeType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// 00: B node (broadcast).
    case b = 0
    /// 01: P node (point-to-point).
    case p = 1
    /// 10: M node (mixed); Samba's source3 sends this.
    case m = 2
    /// 11: NBDD, used by Windows ("H node") as in MS-MAIL <13>.
    case h = 3

    public var description: String {
        switch self {
        case .b: "B"
        case .p: "P"
        case .m: "M"
        case .h: "H/NBDD"
        }
    }
}

/// The datagram FLAGS byte: MORE (0x01), FIRST (0x02), source node type (0x0C), reserved (0xF0).
public struct NetBIOSDatagramFlags: Sendable, Hashable, CustomStringConvertible {
    /// The byte as sent.
    public var rawValue: UInt8

    /// Wraps a FLAGS byte as received.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// Builds a flags byte; reserved bits are zero.
    public init(more: Bool = false, first: Bool = true, nodeType: NetBIOSNodeType) {
        rawValue = (more ? 0x01 : 0) | (first ? 0x02 : 0) | nodeType.rawValue << 2
    }

    /// 0x0E: FIRST + node type 11, what Windows sends (MS-MAIL <13>).
    public static let windows = NetBIOSDatagramFlags(rawValue: 0x0E)
    /// 0x0A: FIRST + M node, what Samba's nmbd sends.
    public static let samba = NetBIOSDatagramFlags(rawValue: 0x0A)

    /// M bit: more fragments follow.
    public var more: Bool { rawValue & 0x01 != 0 }
    /// F bit: this is the first fragment.
    public var first: Bool { rawValue & 0x02 != 0 }
    /// Source node type.
    public var nodeType: NetBIOSNodeType { NetBIOSNodeType(rawValue: (rawValue >> 2) & 0x03) ?? .b }
    /// Reserved bits 4–7 (should be zero).
    public var reservedBits: UInt8 { rawValue & 0xF0 }

    /// E.g. `0x0e (FIRST, node H/NBDD)`.
    public var description: String {
        var parts: [String] = []
        if more { parts.append("MORE") }
        if first { parts.append("FIRST") }
        parts.append("node \(nodeType)")
        if reservedBits != 0 { parts.append("reserved \(WireBytes.hex8(reservedBits))") }
        return WireBytes.hex8(rawValue) + " (" + parts.joined(separator: ", ") + ")"
    }
}

/// The fields every NetBIOS datagram starts with (10 bytes, big-endian).
public struct NetBIOSDatagramHeader: Sendable, Hashable {
    /// Length of this common part in bytes.
    public static let length = 10

    /// MSG_TYPE.
    public var messageType: NetBIOSDatagramType
    /// FLAGS.
    public var flags: NetBIOSDatagramFlags
    /// DGM_ID, chosen by the sender.
    public var datagramID: UInt16
    /// SOURCE_IP as a number whose most significant byte is the first octet (192.168.1.10 =
    /// 0xC0A8010A).
    public var sourceIP: UInt32
    /// SOURCE_PORT, normally 138.
    public var sourcePort: UInt16

    /// A header with the given fields; the source port defaults to 138.
    public init(
        messageType: NetBIOSDatagramType, flags: NetBIOSDatagramFlags, datagramID: UInt16,
        sourceIP: UInt32, sourcePort: UInt16 = NetBIOSDatagram.datagramServicePort
    ) {
        self.messageType = messageType
        self.flags = flags
        self.datagramID = datagramID
        self.sourceIP = sourceIP
        self.sourcePort = sourcePort
    }

    /// The four octets of ``sourceIP`` in network order.
    public var sourceIPBytes: [UInt8] {
        [UInt8(truncatingIfNeeded: sourceIP >> 24), UInt8(truncatingIfNeeded: sourceIP >> 16),
         UInt8(truncatingIfNeeded: sourceIP >> 8), UInt8(truncatingIfNeeded: sourceIP)]
    }

    /// Dotted-quad text of ``sourceIP``.
    public var sourceIPString: String { WireBytes.ipv4String(sourceIP) }

    /// Builds the `UInt32` form of an IPv4 address from its four octets.
    public static func ipv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> UInt32 {
        UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    func encode(into out: inout [UInt8]) {
        out.append(messageType.rawValue)
        out.append(flags.rawValue)
        WireBytes.appendUInt16BE(datagramID, to: &out)
        WireBytes.appendUInt32BE(sourceIP, to: &out)
        WireBytes.appendUInt16BE(sourcePort, to: &out)
    }

    /// Decodes the 10 common bytes (message type must be one of the seven known types).
    static func decode(_ bytes: [UInt8]) throws(DatagramDecodeError) -> NetBIOSDatagramHeader {
        guard let first = bytes.first else {
            throw .truncatedHeader(needed: length, available: 0)
        }
        guard let type = NetBIOSDatagramType(rawValue: first) else {
            throw .unsupportedMessageType(first)
        }
        var reader = WireReader(bytes, offset: 1)
        guard let flags = reader.readUInt8(), let id = reader.readUInt16BE(),
              let ip = reader.readUInt32BE(), let port = reader.readUInt16BE()
        else {
            throw .truncatedHeader(needed: length, available: bytes.count)
        }
        return NetBIOSDatagramHeader(
            messageType: type, flags: NetBIOSDatagramFlags(rawValue: flags), datagramID: id,
            sourceIP: ip, sourcePort: port)
    }
}

/// A NetBIOS DIRECT_UNIQUE, DIRECT_GROUP or BROADCAST datagram (RFC 1002 §4.4.1): header, DGM_LENGTH,
/// PACKET_OFFSET, source and destination names and opaque user data.
///
/// ``encoded()`` writes every stored field verbatim (it does not recompute DGM_LENGTH), so a decoded
/// datagram re-encodes to the exact bytes it came from.
public struct NetBIOSDatagram: Sendable, Hashable {
    /// UDP port of the NetBIOS datagram service.
    public static let datagramServicePort: UInt16 = 138
    /// Bytes before the source name: common header + DGM_LENGTH + PACKET_OFFSET.
    public static let fixedHeaderLength = 14

    /// The common header (type, flags, id, source IP and port).
    public var header: NetBIOSDatagramHeader
    /// DGM_LENGTH as sent: names + user data, excluding the 14-byte header. Informational only; the
    /// decoder never uses it for bounds.
    public var dgmLength: UInt16
    /// PACKET_OFFSET; 0 for an unfragmented datagram.
    public var packetOffset: UInt16
    /// SOURCE_NAME, e.g. `HOSTA<00>`.
    public var sourceName: NetBIOSName
    /// DESTINATION_NAME, e.g. `HOSTB<00>` or `WORKGROUP<1e>`.
    public var destinationName: NetBIOSName
    /// USER_DATA: everything after the destination name (for mailslots, the SMB message).
    public var userData: [UInt8]

    /// Stores the given fields verbatim; see ``computedDgmLength`` for the correct DGM_LENGTH.
    public init(
        header: NetBIOSDatagramHeader, dgmLength: UInt16, packetOffset: UInt16 = 0,
        sourceName: NetBIOSName, destinationName: NetBIOSName, userData: [UInt8]
    ) {
        self.header = header
        self.dgmLength = dgmLength
        self.packetOffset = packetOffset
        self.sourceName = sourceName
        self.destinationName = destinationName
        self.userData = userData
    }

    /// DGM_LENGTH implied by the names and user data (may exceed `UInt16.max` only for absurd data).
    public var computedDgmLength: Int {
        sourceName.encodedLength + destinationName.encodedLength + userData.count
    }

    /// Offset of USER_DATA in the encoded datagram.
    public var userDataOffset: Int {
        NetBIOSDatagram.fixedHeaderLength + sourceName.encodedLength + destinationName.encodedLength
    }

    /// The UDP payload.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(userDataOffset + userData.count)
        header.encode(into: &out)
        WireBytes.appendUInt16BE(dgmLength, to: &out)
        WireBytes.appendUInt16BE(packetOffset, to: &out)
        sourceName.encode(into: &out)
        destinationName.encode(into: &out)
        out.append(contentsOf: userData)
        return out
    }

    /// Decodes a data datagram (types 0x10–0x12) without interpreting the user data.
    ///
    /// Bounds come only from `bytes.count` (the UDP length), never from DGM_LENGTH. Fragmentation is
    /// not checked here; ``decodeDatagram(_:)`` rejects fragments.
    public static func decode(_ bytes: some Collection<UInt8>) throws(DatagramDecodeError) -> NetBIOSDatagram {
        try decode(array: Array(bytes))
    }

    static func decode(array bytes: [UInt8]) throws(DatagramDecodeError) -> NetBIOSDatagram {
        let header = try NetBIOSDatagramHeader.decode(bytes)
        guard header.messageType.carriesUserData else {
            throw .notDataDatagram(header.messageType)
        }
        return try decodeDataBody(bytes, header: header, rejectFragments: false)
    }

    static func decodeDataBody(
        _ bytes: [UInt8], header: NetBIOSDatagramHeader, rejectFragments: Bool
    ) throws(DatagramDecodeError) -> NetBIOSDatagram {
        guard let dgmLength = WireBytes.uint16BE(bytes, at: 10),
              let packetOffset = WireBytes.uint16BE(bytes, at: 12)
        else {
            throw .truncatedHeader(needed: fixedHeaderLength, available: bytes.count)
        }
        if rejectFragments && (header.flags.more || !header.flags.first || packetOffset != 0) {
            throw .fragmented(flags: header.flags.rawValue, packetOffset: packetOffset)
        }
        let source: (name: NetBIOSName, end: Int)
        do throws(NetBIOSNameDecodeError) {
            source = try NetBIOSName.decode(from: bytes, at: fixedHeaderLength)
        } catch {
            throw .badNameEncoding(.source, error)
        }
        let destination: (name: NetBIOSName, end: Int)
        do throws(NetBIOSNameDecodeError) {
            destination = try NetBIOSName.decode(from: bytes, at: source.end)
        } catch {
            throw .badNameEncoding(.destination, error)
        }
        return NetBIOSDatagram(
            header: header, dgmLength: dgmLength, packetOffset: packetOffset,
            sourceName: source.name, destinationName: destination.name,
            userData: Array(bytes[destination.end...]))
    }
}

/// A DATAGRAM ERROR packet (0x13): the common header followed by one ERROR_CODE byte.
public struct NetBIOSDatagramErrorPacket: Sendable, Hashable {
    /// The common header (MSG_TYPE 0x13).
    public var header: NetBIOSDatagramHeader
    /// 0x82 destination name not present, 0x83 invalid source name format, 0x84 invalid destination
    /// name format.
    public var errorCode: UInt8

    /// An error packet with the given header and code.
    public init(header: NetBIOSDatagramHeader, errorCode: UInt8) {
        self.header = header
        self.errorCode = errorCode
    }

    /// Text for the known error codes.
    public var errorCodeDescription: String {
        switch errorCode {
        case 0x82: "destination name not present"
        case 0x83: "invalid source name format"
        case 0x84: "invalid destination name format"
        default: "unknown error code"
        }
    }

    /// The UDP payload: 10 header bytes and the error code.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        header.encode(into: &out)
        out.append(errorCode)
        return out
    }
}

/// A DATAGRAM QUERY REQUEST / POSITIVE / NEGATIVE QUERY RESPONSE (0x14–0x16): the common header
/// followed by the destination name only.
public struct NetBIOSDatagramQueryPacket: Sendable, Hashable {
    /// The common header (MSG_TYPE 0x14–0x16).
    public var header: NetBIOSDatagramHeader
    /// The name queried for.
    public var destinationName: NetBIOSName

    /// A query packet with the given header and name.
    public init(header: NetBIOSDatagramHeader, destinationName: NetBIOSName) {
        self.header = header
        self.destinationName = destinationName
    }

    /// The UDP payload: 10 header bytes and the encoded name.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        header.encode(into: &out)
        destinationName.encode(into: &out)
        return out
    }
}
