/// Which of the two names of a datagram failed to decode.
public enum NetBIOSNameField: String, Sendable, Hashable, CustomStringConvertible {
    case source
    case destination

    public var description: String { rawValue }
}

/// Why a UDP payload was rejected as a mailslot datagram. Each case has a human-readable
/// ``description`` and a stable short ``reason`` suitable as a counter key.
public enum DatagramDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Fewer bytes than the fixed NetBIOS header needs for this message type.
    case truncatedHeader(needed: Int, available: Int)
    /// MSG_TYPE is not one of 0x10–0x16.
    case unsupportedMessageType(UInt8)
    /// A data datagram was required but the type is an error or query packet
    /// (only from ``NetBIOSDatagram/decode(_:)``; ``decodeDatagram(_:)`` returns those instead).
    case notDataDatagram(NetBIOSDatagramType)
    /// MORE set, FIRST clear or PACKET_OFFSET ≠ 0: a fragment. Mailslot datagrams never fragment.
    case fragmented(flags: UInt8, packetOffset: UInt16)
    /// The source or destination name is not a valid first-level encoded name.
    case badNameEncoding(NetBIOSNameField, NetBIOSNameDecodeError)
    /// USER_DATA does not start with `\xFFSMB`.
    case notSMB
    /// USER_DATA ends inside the SMB header, the parameter words or the byte count.
    case truncatedSMB(needed: Int, available: Int)
    /// SMB command is not 0x25 SMB_COM_TRANSACTION.
    case wrongSMBCommand(UInt8)
    /// WordCount is not 17.
    case wrongWordCount(UInt8)
    /// SetupCount is not 3.
    case wrongSetupCount(UInt8)
    /// Setup[0] is not 1 (TRANS_MAILSLOT_WRITE).
    case notMailslotWrite(opcode: UInt16)
    /// No NUL terminates the mailslot name before the end of the datagram.
    case nameNotTerminated
    /// The name does not start with `\MAILSLOT\` (any case) or nothing follows the prefix.
    case nameNotMailslot(String)
    /// DataOffset + DataCount (relative to the SMB start) lies beyond the received SMB bytes.
    case dataOutOfBounds(offset: Int, count: Int, available: Int)
    /// The data starts inside the fixed SMB part or inside the mailslot name.
    case dataOverlapsName(dataOffset: Int, nameEnd: Int)

    /// A stable short identifier of the case (snake_case, the gateway's counter key), e.g. `data_out_of_bounds`.
    public var reason: String {
        switch self {
        case .truncatedHeader: "truncated_header"
        case .unsupportedMessageType: "unsupported_message_type"
        case .notDataDatagram: "not_data_datagram"
        case .fragmented: "fragmented"
        case .badNameEncoding: "bad_name_encoding"
        case .notSMB: "not_smb"
        case .truncatedSMB: "truncated_smb"
        case .wrongSMBCommand: "wrong_smb_command"
        case .wrongWordCount: "wrong_word_count"
        case .wrongSetupCount: "wrong_setup_count"
        case .notMailslotWrite: "not_mailslot_write"
        case .nameNotTerminated: "name_not_terminated"
        case .nameNotMailslot: "name_not_mailslot"
        case .dataOutOfBounds: "data_out_of_bounds"
        case .dataOverlapsName: "data_overlaps_name"
        }
    }

    public var description: String {
        switch self {
        case .truncatedHeader(let needed, let available):
            "truncated NetBIOS datagram header: need \(needed) bytes, got \(available)"
        case .unsupportedMessageType(let type):
            "unsupported NetBIOS datagram message type \(WireBytes.hex8(type))"
        case .notDataDatagram(let type):
            "NetBIOS datagram type \(WireBytes.hex8(type.rawValue)) \(type) carries no user data"
        case .fragmented(let flags, let offset):
            "fragmented NetBIOS datagram (flags \(WireBytes.hex8(flags)), packet offset \(offset)); mailslot datagrams are never fragmented"
        case .badNameEncoding(let field, let error):
            "bad \(field) NetBIOS name: \(error)"
        case .notSMB:
            "user data is not an SMB message (missing \\xFFSMB)"
        case .truncatedSMB(let needed, let available):
            "truncated SMB transaction: need \(needed) bytes, got \(available)"
        case .wrongSMBCommand(let command):
            "SMB command \(WireBytes.hex8(command)) is not SMB_COM_TRANSACTION (0x25)"
        case .wrongWordCount(let count):
            "SMB WordCount \(count), expected 17 for a mailslot write"
        case .wrongSetupCount(let count):
            "transaction SetupCount \(count), expected 3 for a mailslot write"
        case .notMailslotWrite(let opcode):
            "transaction opcode \(opcode) is not 1 (TRANS_MAILSLOT_WRITE)"
        case .nameNotTerminated:
            "mailslot name is not NUL-terminated within the datagram"
        case .nameNotMailslot(let name):
            "transaction name \(name.debugDescription) is not \\MAILSLOT\\<name>"
        case .dataOutOfBounds(let offset, let count, let available):
            "mailslot data out of bounds: DataOffset \(offset) + DataCount \(count) > \(available) SMB bytes received"
        case .dataOverlapsName(let dataOffset, let nameEnd):
            "mailslot data at DataOffset \(dataOffset) overlaps the SMB header or name (which end at \(nameEnd))"
        }
    }
}
