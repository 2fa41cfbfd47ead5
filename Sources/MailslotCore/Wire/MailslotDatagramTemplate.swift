/// The mailslot datagrams of one stream (one sender, one destination name, one mailslot), encoded once
/// with no data: each datagram is then that prefix with its id, its lengths and its data filled in,
/// byte for byte what ``NetBIOSMailslotDatagram/init(messageType:datagramID:sourceIP:sourcePort:sourceName:destinationName:mailslotName:data:style:)``
/// encodes, at the cost of one copy. A bridge re-broadcasts every message of a stream this way.
public struct MailslotDatagramTemplate: Sendable, Hashable {
    /// The datagram with an id of 0 and no data.
    private let empty: [UInt8]
    /// Where the SMB message starts in it.
    private let smbOffset: Int
    /// The most data one datagram of this stream can carry (the 16-bit length fields).
    public let largestData: Int

    /// Offsets in the SMB message of the fields that count the data: TotalDataCount, DataCount and
    /// ByteCount (little-endian).
    static let dataCountFields = [35, 55, 67]
    /// Offsets in the datagram of DGM_ID and DGM_LENGTH (big-endian).
    static let datagramIDOffset = 2, datagramLengthOffset = 10

    /// - Throws: what the datagram's initializer throws for the same arguments.
    public init(messageType: NetBIOSDatagramType, sourceIP: UInt32, sourcePort: UInt16 = NetBIOSDatagram.datagramServicePort,
                sourceName: NetBIOSName, destinationName: NetBIOSName, mailslotName: String,
                style: MailslotWriteStyle = .windows) throws(MailslotWireEncodeError) {
        let datagram = try NetBIOSMailslotDatagram(messageType: messageType, datagramID: 0, sourceIP: sourceIP, sourcePort: sourcePort,
                                                   sourceName: sourceName, destinationName: destinationName,
                                                   mailslotName: mailslotName, data: [UInt8](), style: style)
        empty = datagram.encoded()
        smbOffset = datagram.datagram.userDataOffset
        // Both DGM_LENGTH (names and SMB message) and the SMB counts (the SMB message) must stay 16-bit.
        largestData = Int(UInt16.max) - max(empty.count - NetBIOSDatagram.fixedHeaderLength, empty.count - smbOffset)
    }

    /// The datagram with this id and data.
    /// - Throws: ``MailslotWireEncodeError/messageTooLarge(byteCount:maximum:)`` beyond ``largestData``.
    public func encoded(datagramID: UInt16, data: some Collection<UInt8>) throws(MailslotWireEncodeError) -> [UInt8] {
        let count = data.count
        guard count <= largestData else { throw .messageTooLarge(byteCount: count, maximum: max(0, largestData)) }
        var out = empty
        out.reserveCapacity(empty.count + count)
        out.append(contentsOf: data)
        func add(_ offset: Int, bigEndian: Bool) {
            let (high, low) = bigEndian ? (offset, offset + 1) : (offset + 1, offset)
            let value = (UInt16(out[high]) << 8 | UInt16(out[low])) &+ UInt16(truncatingIfNeeded: count)
            out[high] = UInt8(truncatingIfNeeded: value >> 8)
            out[low] = UInt8(truncatingIfNeeded: value)
        }
        out[Self.datagramIDOffset] = UInt8(truncatingIfNeeded: datagramID >> 8)
        out[Self.datagramIDOffset + 1] = UInt8(truncatingIfNeeded: datagramID)
        add(Self.datagramLengthOffset, bigEndian: true)
        for field in Self.dataCountFields { add(smbOffset + field, bigEndian: false) }
        return out
    }
}
