/// NetBIOS name service (UDP 137) NAME QUERY REQUEST, RFC 1002 §4.2.12.
///
/// Layout (big-endian): NAME_TRN_ID, FLAGS (0x0110 = RD + B for a broadcast query), QDCOUNT 1,
/// ANCOUNT 0, NSCOUNT 0, ARCOUNT 0, then the question: encoded name, QTYPE NB (0x0020),
/// QCLASS IN (0x0001). 50 bytes for an unscoped name.
public struct NameQueryRequest: Sendable, Hashable {
    /// UDP port of the NetBIOS name service.
    public static let nameServicePort: UInt16 = 137
    /// Size of the name service packet header.
    public static let headerLength = 12
    /// QTYPE / RR_TYPE NB (general name service resource record).
    public static let typeNB: UInt16 = 0x0020
    /// QTYPE / RR_TYPE NBSTAT (node status).
    public static let typeNBSTAT: UInt16 = 0x0021
    /// QCLASS / RR_CLASS IN.
    public static let classIN: UInt16 = 0x0001
    /// FLAGS bit: Recursion Desired.
    public static let flagRecursionDesired: UInt16 = 0x0100
    /// FLAGS bit: Broadcast.
    public static let flagBroadcast: UInt16 = 0x0010

    /// NAME_TRN_ID, echoed by the responder.
    public var transactionID: UInt16
    /// The name asked for, e.g. `HOSTB<00>`.
    public var name: NetBIOSName
    /// FLAGS word; 0x0110 for a broadcast query, 0x0100 for a unicast (WINS) query.
    public var flags: UInt16

    /// A query for `name`; broadcast (FLAGS 0x0110) by default.
    public init(transactionID: UInt16, name: NetBIOSName, broadcast: Bool = true) {
        self.transactionID = transactionID
        self.name = name
        self.flags = NameQueryRequest.flagRecursionDesired | (broadcast ? NameQueryRequest.flagBroadcast : 0)
    }

    /// True if the B flag is set.
    public var isBroadcast: Bool { flags & NameQueryRequest.flagBroadcast != 0 }

    /// The UDP payload.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(NameQueryRequest.headerLength + name.encodedLength + 4)
        WireNameServiceHeader(transactionID: transactionID, flags: flags, questionCount: 1, answerCount: 0).encode(into: &out)
        name.encode(into: &out)
        WireBytes.appendUInt16BE(NameQueryRequest.typeNB, to: &out)
        WireBytes.appendUInt16BE(NameQueryRequest.classIN, to: &out)
        return out
    }

    /// Decodes a name query request (e.g. in a test responder). Requires R clear, OPCODE 0 (query),
    /// QDCOUNT ≥ 1 and a first question of type NB, class IN.
    public static func decode(_ bytes: some Collection<UInt8>) throws(NameQueryDecodeError) -> NameQueryRequest {
        let packet = Array(bytes)
        let header = try WireNameServiceHeader.decode(packet)
        guard !header.isResponse else { throw .notRequest }
        guard header.opcode == 0 else { throw .wrongOpcode(header.opcode) }
        guard header.questionCount >= 1 else { throw .noQuestion }
        let (name, end) = try WireNameServiceHeader.readName(packet, at: headerLength)
        guard let type = WireBytes.uint16BE(packet, at: end),
              let recordClass = WireBytes.uint16BE(packet, at: end + 2)
        else {
            throw .truncated(needed: end + 4, available: packet.count)
        }
        guard type == typeNB else { throw .wrongRecordType(type) }
        guard recordClass == classIN else { throw .wrongRecordClass(recordClass) }
        var request = NameQueryRequest(transactionID: header.transactionID, name: name)
        request.flags = header.flags
        return request
    }
}

/// One NB_FLAGS + NB_ADDRESS entry of a positive name query response.
public struct NameQueryAddressEntry: Sendable, Hashable {
    /// NB_FLAGS: G (0x8000) group name, ONT (0x6000) owner node type.
    public var nbFlags: UInt16
    /// The IPv4 address, most significant byte first (10.99.0.1 = 0x0A630001).
    public var address: UInt32

    /// An entry with the given NB_FLAGS and address.
    public init(nbFlags: UInt16, address: UInt32) {
        self.nbFlags = nbFlags
        self.address = address
    }

    /// True if the name is a group name.
    public var isGroup: Bool { nbFlags & 0x8000 != 0 }
    /// Owner node type (ONT bits).
    public var ownerNodeType: NetBIOSNodeType { NetBIOSNodeType(rawValue: UInt8((nbFlags >> 13) & 0x03)) ?? .b }
    /// Dotted-quad text of ``address``.
    public var addressString: String { WireBytes.ipv4String(address) }
}

/// A POSITIVE NAME QUERY RESPONSE (RFC 1002 §4.2.13) decoded to its answer.
public struct NameQueryResponse: Sendable, Hashable {
    /// NAME_TRN_ID (echoes the request's).
    public var transactionID: UInt16
    /// FLAGS word as sent (e.g. 0x8500: response, AA, RD).
    public var flags: UInt16
    /// RR_NAME of the first answer (resolved through a compression pointer if one was used).
    public var answerName: NetBIOSName
    /// TTL in seconds.
    public var ttl: UInt32
    /// The NB_FLAGS/NB_ADDRESS entries of the first answer (at least one).
    public var entries: [NameQueryAddressEntry]

    /// A response with the given fields (e.g. for a test responder); FLAGS default to 0x8500.
    public init(
        transactionID: UInt16, flags: UInt16 = 0x8500, answerName: NetBIOSName, ttl: UInt32,
        entries: [NameQueryAddressEntry]
    ) {
        self.transactionID = transactionID
        self.flags = flags
        self.answerName = answerName
        self.ttl = ttl
        self.entries = entries
    }

    /// The IPv4 addresses, in the order given.
    public var addresses: [UInt32] { entries.map(\.address) }

    /// Encodes the response without a question section and with the answer name written in full
    /// (as Samba's nmbd does). Intended for test responders.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        WireNameServiceHeader(transactionID: transactionID, flags: flags, questionCount: 0, answerCount: 1).encode(into: &out)
        answerName.encode(into: &out)
        WireBytes.appendUInt16BE(NameQueryRequest.typeNB, to: &out)
        WireBytes.appendUInt16BE(NameQueryRequest.classIN, to: &out)
        WireBytes.appendUInt32BE(ttl, to: &out)
        WireBytes.appendUInt16BE(UInt16(truncatingIfNeeded: entries.count &* 6), to: &out)
        for entry in entries {
            WireBytes.appendUInt16BE(entry.nbFlags, to: &out)
            WireBytes.appendUInt32BE(entry.address, to: &out)
        }
        return out
    }

    /// Decodes a positive name query response.
    ///
    /// Requires: R set, OPCODE 0, RCODE 0, ANCOUNT ≥ 1; questions (if QDCOUNT > 0) are skipped; the
    /// first answer's name may be a compression pointer to an earlier, uncompressed name (e.g.
    /// 0xC00C to the question); RR_TYPE NB, RR_CLASS IN; RDLENGTH a non-zero multiple of 6 within
    /// the packet. If `request` is given, the transaction id and the answer name must match it.
    public static func decode(
        _ bytes: some Collection<UInt8>, matching request: NameQueryRequest? = nil
    ) throws(NameQueryDecodeError) -> NameQueryResponse {
        let packet = Array(bytes)
        let header = try WireNameServiceHeader.decode(packet)
        guard header.isResponse else { throw .notResponse }
        guard header.opcode == 0 else { throw .wrongOpcode(header.opcode) }
        if let request, request.transactionID != header.transactionID {
            throw .transactionIDMismatch(expected: request.transactionID, actual: header.transactionID)
        }
        guard header.rcode == 0 else { throw .negativeResponse(rcode: header.rcode) }
        guard header.answerCount >= 1 else { throw .noAnswer }

        var position = NameQueryRequest.headerLength
        var remainingQuestions = header.questionCount
        while remainingQuestions > 0 {
            let (_, end) = try WireNameServiceHeader.readName(packet, at: position)
            guard packet.count - end >= 4 else { throw .truncated(needed: end + 4, available: packet.count) }
            position = end + 4
            remainingQuestions -= 1
        }

        let (name, end) = try WireNameServiceHeader.readName(packet, at: position)
        var reader = WireReader(packet, offset: end)
        guard let type = reader.readUInt16BE(), let recordClass = reader.readUInt16BE(),
              let ttl = reader.readUInt32BE(), let rdLength = reader.readUInt16BE()
        else {
            throw .truncated(needed: end + 10, available: packet.count)
        }
        guard type == NameQueryRequest.typeNB else { throw .wrongRecordType(type) }
        guard recordClass == NameQueryRequest.classIN else { throw .wrongRecordClass(recordClass) }
        guard rdLength > 0, rdLength % 6 == 0 else { throw .badRDLength(Int(rdLength)) }
        guard reader.remaining >= Int(rdLength) else {
            throw .truncated(needed: reader.offset + Int(rdLength), available: packet.count)
        }
        var entries: [NameQueryAddressEntry] = []
        entries.reserveCapacity(Int(rdLength) / 6)
        for _ in 0..<(Int(rdLength) / 6) {
            let nbFlags = reader.readUInt16BE() ?? 0
            let address = reader.readUInt32BE() ?? 0
            entries.append(NameQueryAddressEntry(nbFlags: nbFlags, address: address))
        }
        if let request, request.name != name {
            throw .nameMismatch(expected: request.name, actual: name)
        }
        return NameQueryResponse(
            transactionID: header.transactionID, flags: header.flags, answerName: name, ttl: ttl,
            entries: entries)
    }
}

/// Why a name service packet was rejected.
public enum NameQueryDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The packet ends early.
    case truncated(needed: Int, available: Int)
    /// R bit clear where a response was expected.
    case notResponse
    /// R bit set where a request was expected.
    case notRequest
    /// OPCODE is not 0 (query).
    case wrongOpcode(UInt8)
    /// NAME_TRN_ID differs from the request's.
    case transactionIDMismatch(expected: UInt16, actual: UInt16)
    /// RCODE ≠ 0: a negative response (3 = name does not exist).
    case negativeResponse(rcode: UInt8)
    /// ANCOUNT is 0.
    case noAnswer
    /// QDCOUNT is 0 in a request.
    case noQuestion
    /// A name is not a valid encoded NetBIOS name.
    case badName(NetBIOSNameDecodeError)
    /// A compression pointer that does not point backwards to a name after the header.
    case badCompressionPointer(UInt16)
    /// RR_TYPE / QTYPE is not NB (0x0020).
    case wrongRecordType(UInt16)
    /// RR_CLASS / QCLASS is not IN (0x0001).
    case wrongRecordClass(UInt16)
    /// RDLENGTH is zero or not a multiple of 6.
    case badRDLength(Int)
    /// The answer is for a different name than the one asked for.
    case nameMismatch(expected: NetBIOSName, actual: NetBIOSName)

    /// A stable short identifier, e.g. `negative-response`.
    public var reason: String {
        switch self {
        case .truncated: "truncated"
        case .notResponse: "not-response"
        case .notRequest: "not-request"
        case .wrongOpcode: "wrong-opcode"
        case .transactionIDMismatch: "transaction-id-mismatch"
        case .negativeResponse: "negative-response"
        case .noAnswer: "no-answer"
        case .noQuestion: "no-question"
        case .badName: "bad-name"
        case .badCompressionPointer: "bad-compression-pointer"
        case .wrongRecordType: "wrong-record-type"
        case .wrongRecordClass: "wrong-record-class"
        case .badRDLength: "bad-rdlength"
        case .nameMismatch: "name-mismatch"
        }
    }

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            "truncated name service packet: need \(needed) bytes, got \(available)"
        case .notResponse: "name service packet is a request, expected a response"
        case .notRequest: "name service packet is a response, expected a request"
        case .wrongOpcode(let opcode): "name service OPCODE \(opcode) is not 0 (query)"
        case .transactionIDMismatch(let expected, let actual):
            "transaction id \(WireBytes.hex16(actual)) does not match the request's \(WireBytes.hex16(expected))"
        case .negativeResponse(let rcode): "negative name query response, RCODE \(rcode)"
        case .noAnswer: "name query response has no answer record"
        case .noQuestion: "name query request has no question"
        case .badName(let error): "bad NetBIOS name in name service packet: \(error)"
        case .badCompressionPointer(let pointer): "bad compression pointer \(WireBytes.hex16(pointer))"
        case .wrongRecordType(let type): "record type \(WireBytes.hex16(type)) is not NB (0x0020)"
        case .wrongRecordClass(let recordClass): "record class \(WireBytes.hex16(recordClass)) is not IN (0x0001)"
        case .badRDLength(let length): "RDLENGTH \(length) is not a non-zero multiple of 6"
        case .nameMismatch(let expected, let actual): "answer is for \(actual), asked for \(expected)"
        }
    }
}

/// The 12-byte name service header, decoded.
struct WireNameServiceHeader {
    var transactionID: UInt16
    var flags: UInt16
    var questionCount: UInt16
    var answerCount: UInt16

    var isResponse: Bool { flags & 0x8000 != 0 }
    var opcode: UInt8 { UInt8((flags >> 11) & 0x0F) }
    var rcode: UInt8 { UInt8(flags & 0x000F) }

    /// Writes the 12-byte header (NSCOUNT and ARCOUNT 0).
    func encode(into out: inout [UInt8]) {
        for word in [transactionID, flags, questionCount, answerCount, 0, 0] { WireBytes.appendUInt16BE(word, to: &out) }
    }

    static func decode(_ packet: [UInt8]) throws(NameQueryDecodeError) -> WireNameServiceHeader {
        var reader = WireReader(packet)
        guard let id = reader.readUInt16BE(), let flags = reader.readUInt16BE(),
              let qd = reader.readUInt16BE(), let an = reader.readUInt16BE(),
              reader.skip(4)
        else {
            throw .truncated(needed: NameQueryRequest.headerLength, available: packet.count)
        }
        return WireNameServiceHeader(transactionID: id, flags: flags, questionCount: qd, answerCount: an)
    }

    /// Reads a name at `offset`, following one compression pointer that must point backwards to an
    /// uncompressed name located after the header (so pointer loops are impossible).
    static func readName(
        _ packet: [UInt8], at offset: Int
    ) throws(NameQueryDecodeError) -> (NetBIOSName, Int) {
        guard offset < packet.count else { throw .truncated(needed: offset + 1, available: packet.count) }
        if packet[offset] & 0xC0 == 0xC0 {
            guard let word = WireBytes.uint16BE(packet, at: offset) else {
                throw .truncated(needed: offset + 2, available: packet.count)
            }
            let target = Int(word & 0x3FFF)
            guard target >= NameQueryRequest.headerLength, target < offset else {
                throw .badCompressionPointer(word)
            }
            do throws(NetBIOSNameDecodeError) {
                let (name, _) = try NetBIOSName.decode(from: packet, at: target)
                return (name, offset + 2)
            } catch {
                throw .badName(error)
            }
        }
        do throws(NetBIOSNameDecodeError) {
            return try NetBIOSName.decode(from: packet, at: offset)
        } catch {
            throw .badName(error)
        }
    }
}
