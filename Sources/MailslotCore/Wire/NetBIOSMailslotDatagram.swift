/// A complete mailslot datagram: a NetBIOS data datagram whose USER_DATA is a mailslot write.
///
/// `datagram.userData` holds the SMB bytes exactly as received (or as built), and `transaction` is
/// their decoded form, so ``encoded()`` reproduces a decoded UDP payload byte for byte.
public struct NetBIOSMailslotDatagram: Sendable, Hashable {
    /// The NetBIOS layer, with the raw SMB message as user data.
    public let datagram: NetBIOSDatagram
    /// The decoded mailslot write.
    public let transaction: MailslotTransaction

    init(datagram: NetBIOSDatagram, transaction: MailslotTransaction) {
        self.datagram = datagram
        self.transaction = transaction
    }

    /// Builds a mailslot datagram (DIRECT_UNIQUE to a unique name, DIRECT_GROUP to a group name).
    ///
    /// With the default ``MailslotWriteStyle/windows`` style this reproduces a Windows client frame:
    /// FLAGS 0x0E, the SMB fields of ``MailslotWriteStyle/windows`` and DGM_LENGTH = encoded names +
    /// SMB part. PACKET_OFFSET is 0.
    ///
    /// - Throws: ``MailslotWireEncodeError`` for an invalid mailslot name, an error/query message type,
    ///   or a message too large for the 16-bit length fields. The remote size limit is not applied;
    ///   see ``MailslotWireLimits/checkRemoteWrite(byteCount:mailslotName:)``.
    public init(
        messageType: NetBIOSDatagramType = .directUnique,
        datagramID: UInt16,
        sourceIP: UInt32,
        sourcePort: UInt16 = NetBIOSDatagram.datagramServicePort,
        sourceName: NetBIOSName,
        destinationName: NetBIOSName,
        mailslotName: String,
        data: some Collection<UInt8>,
        style: MailslotWriteStyle = .windows
    ) throws(MailslotWireEncodeError) {
        guard messageType.carriesUserData else { throw .notDataDatagramType(messageType) }
        let transaction = try MailslotTransaction(mailslotName: mailslotName, data: data, style: style)
        let smb = transaction.encoded()
        let length = sourceName.encodedLength + destinationName.encodedLength + smb.count
        guard length <= Int(UInt16.max) else {
            let overhead = length - transaction.data.count
            throw .messageTooLarge(
                byteCount: transaction.data.count, maximum: max(0, Int(UInt16.max) - overhead))
        }
        let header = NetBIOSDatagramHeader(
            messageType: messageType, flags: style.datagramFlags, datagramID: datagramID,
            sourceIP: sourceIP, sourcePort: sourcePort)
        self.datagram = NetBIOSDatagram(
            header: header, dgmLength: UInt16(length), packetOffset: 0, sourceName: sourceName,
            destinationName: destinationName, userData: smb)
        self.transaction = transaction
    }

    /// The UDP payload.
    public func encoded() -> [UInt8] { datagram.encoded() }

    /// Decodes a UDP payload that must be a mailslot datagram (types 0x10–0x12). Error and query
    /// packets throw ``DatagramDecodeError/notDataDatagram(_:)``; use ``decodeDatagram(_:)`` to
    /// accept them too.
    public static func decode(_ bytes: some Collection<UInt8>) throws(DatagramDecodeError) -> NetBIOSMailslotDatagram {
        let decoded = try DecodedDatagram.decode(array: Array(bytes))
        switch decoded {
        case .mailslot(let message): return message
        case .error(let packet): throw .notDataDatagram(packet.header.messageType)
        case .query(let packet): throw .notDataDatagram(packet.header.messageType)
        }
    }

    // MARK: Convenience accessors

    /// The NetBIOS common header.
    public var header: NetBIOSDatagramHeader { datagram.header }
    /// DIRECT_UNIQUE, DIRECT_GROUP or BROADCAST.
    public var messageType: NetBIOSDatagramType { datagram.header.messageType }
    /// The sender's NetBIOS name.
    public var sourceName: NetBIOSName { datagram.sourceName }
    /// The NetBIOS name the datagram is addressed to.
    public var destinationName: NetBIOSName { datagram.destinationName }
    /// E.g. `\MAILSLOT\BROWSE`.
    public var mailslotName: String { transaction.mailslotName }
    /// The message bytes (DataCount bytes at DataOffset).
    public var data: [UInt8] { transaction.data }
}

/// A successfully decoded NetBIOS datagram service packet.
public enum DecodedDatagram: Sendable, Hashable {
    /// A DIRECT_UNIQUE / DIRECT_GROUP / BROADCAST datagram carrying a mailslot write.
    case mailslot(NetBIOSMailslotDatagram)
    /// A DATAGRAM ERROR packet (0x13). Recognised, but not a mailslot message.
    case error(NetBIOSDatagramErrorPacket)
    /// A datagram query request or response (0x14–0x16). Recognised, but not a mailslot message.
    case query(NetBIOSDatagramQueryPacket)

    /// The common header of whichever packet this is.
    public var header: NetBIOSDatagramHeader {
        switch self {
        case .mailslot(let message): message.header
        case .error(let packet): packet.header
        case .query(let packet): packet.header
        }
    }

    /// The mailslot datagram, or `nil` for error and query packets.
    public var mailslot: NetBIOSMailslotDatagram? {
        if case .mailslot(let message) = self { return message }
        return nil
    }

    /// Decodes one UDP payload received on the datagram port. See ``decodeDatagram(_:)``.
    public static func decode(_ bytes: some Collection<UInt8>) throws(DatagramDecodeError) -> DecodedDatagram {
        try decode(array: Array(bytes))
    }

    static func decode(array bytes: [UInt8]) throws(DatagramDecodeError) -> DecodedDatagram {
        let header = try NetBIOSDatagramHeader.decode(bytes)
        switch header.messageType {
        case .directUnique, .directGroup, .broadcast:
            let datagram = try NetBIOSDatagram.decodeDataBody(bytes, header: header, rejectFragments: true)
            let transaction = try MailslotTransaction.decode(smbArray: datagram.userData)
            return .mailslot(NetBIOSMailslotDatagram(datagram: datagram, transaction: transaction))
        case .error:
            guard bytes.count > NetBIOSDatagramHeader.length else {
                throw .truncatedHeader(needed: NetBIOSDatagramHeader.length + 1, available: bytes.count)
            }
            return .error(NetBIOSDatagramErrorPacket(
                header: header, errorCode: bytes[NetBIOSDatagramHeader.length]))
        case .queryRequest, .positiveQueryResponse, .negativeQueryResponse:
            do throws(NetBIOSNameDecodeError) {
                let (name, _) = try NetBIOSName.decode(from: bytes, at: NetBIOSDatagramHeader.length)
                return .query(NetBIOSDatagramQueryPacket(header: header, destinationName: name))
            } catch {
                throw .badNameEncoding(.destination, error)
            }
        }
    }
}

/// Decodes one UDP payload from the NetBIOS datagram port (138).
///
/// `bytes` must be exactly the received UDP payload: its count is the only length trusted
/// (DGM_LENGTH is ignored for bounds). Mailslot datagrams must be unfragmented (FIRST set, MORE
/// clear, PACKET_OFFSET 0), carry SMB_COM_TRANSACTION with WordCount 17, SetupCount 3, opcode 1, a
/// NUL-terminated `\MAILSLOT\<name>`, and DataOffset/DataCount inside the received bytes. Padded
/// and unpadded layouts, any FLAGS node type, ParameterOffset 0 or = DataOffset, any TID and class
/// are accepted. Error (0x13) and query (0x14–0x16) packets are returned as their own cases.
///
/// Never traps, and allocates at most a few times the input size.
public func decodeDatagram(_ bytes: some Collection<UInt8>) throws(DatagramDecodeError) -> DecodedDatagram {
    try DecodedDatagram.decode(array: Array(bytes))
}
