/// An SMB_COM_TRANSACTION request carrying a mailslot write (MS-MAIL §2.2.1), i.e. the USER_DATA of a
/// NetBIOS datagram. Little-endian; all offsets are from the start of the SMB message.
///
/// Instances come from ``decode(smb:)`` (every field exactly as received) or from
/// ``init(mailslotName:data:style:)`` (fields computed from a ``MailslotWriteStyle``). Both keep the
/// invariants that ``encoded()`` relies on: `dataCount == data.count`, and non-empty data never
/// starts before the end of the name. The fields that receivers ignore are kept so that a
/// `mailslot decode` tool can show them.
public struct MailslotTransaction: Sendable, Hashable {
    /// Size of the SMB header (protocol through MID).
    public static let smbHeaderLength = 32
    /// Offset of the mailslot name: 32 header + 1 WordCount + 34 (17 words) + 2 ByteCount.
    public static let nameOffset = 69
    /// `\xFFSMB`.
    public static let protocolSignature: [UInt8] = [0xFF, 0x53, 0x4D, 0x42]
    /// SMB_COM_TRANSACTION.
    public static let transactionCommand: UInt8 = 0x25
    /// WordCount of a mailslot write.
    public static let mailslotWordCount: UInt8 = 17
    /// SetupCount of a mailslot write.
    public static let mailslotSetupCount: UInt8 = 3
    /// Setup[0] for TRANS_MAILSLOT_WRITE.
    public static let mailslotWriteOpcode: UInt16 = 1
    /// The prefix every transaction name must start with (compared case-insensitively).
    public static let mailslotPrefix = "\\MAILSLOT\\"
    static let mailslotPrefixBytes: [UInt8] = Array("\\MAILSLOT\\".utf8)

    // MARK: SMB header (ignored by receivers)

    /// Status (offset 5); should be 0.
    public let smbStatus: UInt32
    /// Flags (offset 9); Windows clients 0x18, Samba 0.
    public let smbFlags: UInt8
    /// Flags2 (offset 10); Windows clients 0x0004, Samba 0.
    public let smbFlags2: UInt16
    /// PIDHigh (offset 12).
    public let pidHigh: UInt16
    /// SecurityFeatures (offset 14, 8 bytes, read little-endian).
    public let securityFeatures: UInt64
    /// Reserved (offset 22).
    public let smbReserved: UInt16
    /// TID (offset 24); 0 from Windows and Samba, 0xFFFF per MS-CIFS.
    public let tid: UInt16
    /// PIDLow (offset 26); Windows clients 0xFEFF.
    public let pid: UInt16
    /// UID (offset 28).
    public let uid: UInt16
    /// MID (offset 30).
    public let mid: UInt16

    // MARK: Transaction parameter words (WordCount is always 17)

    /// TotalParameterCount (offset 33).
    public let totalParameterCount: UInt16
    /// TotalDataCount (offset 35); equals the data length for a single-part write.
    public let totalDataCount: UInt16
    /// MaxParameterCount (offset 37); Windows clients 2.
    public let maxParameterCount: UInt16
    /// MaxDataCount (offset 39).
    public let maxDataCount: UInt16
    /// MaxSetupCount (offset 41).
    public let maxSetupCount: UInt8
    /// Reserved1 (offset 42).
    public let reserved1: UInt8
    /// Transaction Flags (offset 43): 0x0001 DISCONNECT_TID, 0x0002 NO_RESPONSE.
    public let transactionFlags: UInt16
    /// Timeout in milliseconds (offset 45); ignored by receivers.
    public let timeout: UInt32
    /// Reserved2 (offset 49).
    public let reserved2: UInt16
    /// ParameterCount (offset 51).
    public let parameterCount: UInt16
    /// ParameterOffset (offset 53); 0 (Samba) or equal to DataOffset (Windows).
    public let parameterOffset: UInt16
    /// DataCount (offset 55): the message length.
    public let dataCount: UInt16
    /// DataOffset (offset 57): where the message starts, from the SMB start.
    public let dataOffset: UInt16
    /// Reserved3 (offset 60).
    public let reserved3: UInt8

    // MARK: Setup words (SetupCount is always 3)

    /// Setup[0]: always 1 (TRANS_MAILSLOT_WRITE) for a decoded or built transaction.
    public let opcode: UInt16
    /// Setup[1]: priority 0–9; Windows sends 0, Samba 1; receivers ignore it.
    public let priority: UInt16
    /// Setup[2]: class, 1 = reliable, 2 = unreliable & broadcast (the one actually used).
    public let mailslotClass: UInt16

    // MARK: Bytes

    /// ByteCount (offset 67): name + NUL + padding + data, as sent (receivers ignore it).
    public let byteCount: UInt16
    /// The mailslot name bytes without the NUL, e.g. `\MAILSLOT\BROWSE`.
    public let mailslotNameBytes: [UInt8]
    /// The message.
    public let data: [UInt8]

    /// The mailslot name, one Unicode scalar per byte (ISO 8859-1).
    public var mailslotName: String { WireBytes.latin1String(mailslotNameBytes) }

    /// The part after `\MAILSLOT\`, e.g. `NET\NETLOGON`.
    public var mailslotNameAfterPrefix: String {
        WireBytes.latin1String(mailslotNameBytes.dropFirst(MailslotTransaction.mailslotPrefixBytes.count))
    }

    /// Offset just past the name's NUL terminator.
    public var nameEnd: Int { MailslotTransaction.nameOffset + mailslotNameBytes.count + 1 }

    /// Bytes between the name's NUL and DataOffset (0 if DataOffset is not after the name).
    public var paddingLength: Int { max(0, Int(dataOffset) - nameEnd) }

    /// Length of ``encoded()``.
    public var encodedLength: Int {
        data.isEmpty ? max(nameEnd, Int(dataOffset)) : Int(dataOffset) + data.count
    }

    /// Memberwise initialiser used by the decoder and the builder.
    init(
        smbStatus: UInt32, smbFlags: UInt8, smbFlags2: UInt16, pidHigh: UInt16, securityFeatures: UInt64,
        smbReserved: UInt16, tid: UInt16, pid: UInt16, uid: UInt16, mid: UInt16,
        totalParameterCount: UInt16, totalDataCount: UInt16, maxParameterCount: UInt16,
        maxDataCount: UInt16, maxSetupCount: UInt8, reserved1: UInt8, transactionFlags: UInt16,
        timeout: UInt32, reserved2: UInt16, parameterCount: UInt16, parameterOffset: UInt16,
        dataCount: UInt16, dataOffset: UInt16, reserved3: UInt8, opcode: UInt16, priority: UInt16,
        mailslotClass: UInt16, byteCount: UInt16, mailslotNameBytes: [UInt8], data: [UInt8]
    ) {
        self.smbStatus = smbStatus
        self.smbFlags = smbFlags
        self.smbFlags2 = smbFlags2
        self.pidHigh = pidHigh
        self.securityFeatures = securityFeatures
        self.smbReserved = smbReserved
        self.tid = tid
        self.pid = pid
        self.uid = uid
        self.mid = mid
        self.totalParameterCount = totalParameterCount
        self.totalDataCount = totalDataCount
        self.maxParameterCount = maxParameterCount
        self.maxDataCount = maxDataCount
        self.maxSetupCount = maxSetupCount
        self.reserved1 = reserved1
        self.transactionFlags = transactionFlags
        self.timeout = timeout
        self.reserved2 = reserved2
        self.parameterCount = parameterCount
        self.parameterOffset = parameterOffset
        self.dataCount = dataCount
        self.dataOffset = dataOffset
        self.reserved3 = reserved3
        self.opcode = opcode
        self.priority = priority
        self.mailslotClass = mailslotClass
        self.byteCount = byteCount
        self.mailslotNameBytes = mailslotNameBytes
        self.data = data
    }

    /// Builds a mailslot write the way `style` says (Windows by default).
    ///
    /// The name is written with an upper-case `\MAILSLOT\` prefix followed by the rest as given,
    /// then a NUL and, for ``MailslotWriteStyle/DataAlignment/fourBytes``, zero padding so that
    /// DataOffset = roundup4(70 + strlen(name)). The size limit for remote writes is *not* applied
    /// here; use ``MailslotWireLimits/checkRemoteWrite(byteCount:mailslotName:)``.
    ///
    /// - Throws: ``MailslotWireEncodeError/invalidMailslotName(_:)`` if the name is not
    ///   `\MAILSLOT\<non-empty>` in single-byte characters without NUL;
    ///   ``MailslotWireEncodeError/messageTooLarge(byteCount:maximum:)`` if the fields would overflow.
    public init(
        mailslotName: String, data: some Collection<UInt8>, style: MailslotWriteStyle = .windows
    ) throws(MailslotWireEncodeError) {
        let nameBytes = try MailslotTransaction.wireNameBytes(mailslotName)
        let dataBytes = Array(data)
        let unpadded = MailslotTransaction.nameOffset + nameBytes.count + 1
        let offset = style.dataAlignment == .fourBytes ? WireBytes.roundUp4(unpadded) : unpadded
        let maximum = Int(UInt16.max) - offset
        guard maximum >= 0, dataBytes.count <= maximum else {
            throw .messageTooLarge(byteCount: dataBytes.count, maximum: max(0, maximum))
        }
        let count = UInt16(dataBytes.count)
        let dataOffset = UInt16(offset)
        self.init(
            smbStatus: 0, smbFlags: style.smbFlags, smbFlags2: style.smbFlags2, pidHigh: 0,
            securityFeatures: 0, smbReserved: 0, tid: style.tid, pid: style.pid, uid: 0, mid: 0,
            totalParameterCount: 0, totalDataCount: count, maxParameterCount: style.maxParameterCount,
            maxDataCount: 0, maxSetupCount: 0, reserved1: 0, transactionFlags: style.transactionFlags,
            timeout: style.timeout, reserved2: 0, parameterCount: 0,
            parameterOffset: style.parameterOffset == .sameAsDataOffset ? dataOffset : 0,
            dataCount: count, dataOffset: dataOffset, reserved3: 0,
            opcode: MailslotTransaction.mailslotWriteOpcode, priority: style.priority,
            mailslotClass: style.mailslotClass,
            byteCount: UInt16(offset - MailslotTransaction.nameOffset + dataBytes.count),
            mailslotNameBytes: nameBytes, data: dataBytes)
    }

    /// Validates a name for sending and returns its wire bytes with the prefix upper-cased.
    static func wireNameBytes(_ name: String) throws(MailslotWireEncodeError) -> [UInt8] {
        guard let bytes = WireBytes.latin1Bytes(name), !bytes.contains(0),
              WireBytes.hasPrefixCaseInsensitive(bytes, mailslotPrefixBytes),
              bytes.count > mailslotPrefixBytes.count
        else {
            throw .invalidMailslotName(name)
        }
        return mailslotPrefixBytes + bytes.dropFirst(mailslotPrefixBytes.count)
    }

    /// The SMB message: every stored field verbatim, the name and its NUL, zeros up to DataOffset,
    /// then the data.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength)
        out.append(contentsOf: MailslotTransaction.protocolSignature)
        out.append(MailslotTransaction.transactionCommand)
        WireBytes.appendUInt32LE(smbStatus, to: &out)
        out.append(smbFlags)
        WireBytes.appendUInt16LE(smbFlags2, to: &out)
        WireBytes.appendUInt16LE(pidHigh, to: &out)
        WireBytes.appendUInt64LE(securityFeatures, to: &out)
        WireBytes.appendUInt16LE(smbReserved, to: &out)
        WireBytes.appendUInt16LE(tid, to: &out)
        WireBytes.appendUInt16LE(pid, to: &out)
        WireBytes.appendUInt16LE(uid, to: &out)
        WireBytes.appendUInt16LE(mid, to: &out)
        out.append(MailslotTransaction.mailslotWordCount)
        WireBytes.appendUInt16LE(totalParameterCount, to: &out)
        WireBytes.appendUInt16LE(totalDataCount, to: &out)
        WireBytes.appendUInt16LE(maxParameterCount, to: &out)
        WireBytes.appendUInt16LE(maxDataCount, to: &out)
        out.append(maxSetupCount)
        out.append(reserved1)
        WireBytes.appendUInt16LE(transactionFlags, to: &out)
        WireBytes.appendUInt32LE(timeout, to: &out)
        WireBytes.appendUInt16LE(reserved2, to: &out)
        WireBytes.appendUInt16LE(parameterCount, to: &out)
        WireBytes.appendUInt16LE(parameterOffset, to: &out)
        WireBytes.appendUInt16LE(dataCount, to: &out)
        WireBytes.appendUInt16LE(dataOffset, to: &out)
        out.append(MailslotTransaction.mailslotSetupCount)
        out.append(reserved3)
        WireBytes.appendUInt16LE(opcode, to: &out)
        WireBytes.appendUInt16LE(priority, to: &out)
        WireBytes.appendUInt16LE(mailslotClass, to: &out)
        WireBytes.appendUInt16LE(byteCount, to: &out)
        out.append(contentsOf: mailslotNameBytes)
        out.append(0)
        if out.count < Int(dataOffset) {
            out.append(contentsOf: [UInt8](repeating: 0, count: Int(dataOffset) - out.count))
        }
        out.append(contentsOf: data)
        return out
    }

    /// Decodes the SMB part of a mailslot datagram.
    ///
    /// Checks, in order: `\xFFSMB`, header length, command 0x25, WordCount 17, parameter words
    /// present, SetupCount 3, opcode 1, NUL-terminated name, `\MAILSLOT\<non-empty>` prefix,
    /// DataOffset + DataCount within the bytes given, and that non-empty data does not overlap the
    /// name. The data is located only by DataOffset/DataCount. TotalDataCount, ByteCount, Timeout,
    /// Priority and Class are recorded but not validated.
    public static func decode(smb bytes: some Collection<UInt8>) throws(DatagramDecodeError) -> MailslotTransaction {
        try decode(smbArray: Array(bytes))
    }

    static func decode(smbArray smb: [UInt8]) throws(DatagramDecodeError) -> MailslotTransaction {
        guard smb.count >= 4, Array(smb[0..<4]) == protocolSignature else { throw .notSMB }
        guard smb.count >= smbHeaderLength + 1 else {
            throw .truncatedSMB(needed: smbHeaderLength + 1, available: smb.count)
        }
        guard smb[4] == transactionCommand else { throw .wrongSMBCommand(smb[4]) }
        let wordCount = smb[smbHeaderLength]
        guard wordCount == mailslotWordCount else { throw .wrongWordCount(wordCount) }
        guard smb.count >= nameOffset else {
            throw .truncatedSMB(needed: nameOffset, available: smb.count)
        }
        let setupCount = smb[59]
        guard setupCount == mailslotSetupCount else { throw .wrongSetupCount(setupCount) }

        // All reads below are within the first 69 bytes, which were checked to exist.
        var reader = WireReader(smb, offset: 5)
        let status = reader.readUInt32LE() ?? 0
        let flags = reader.readUInt8() ?? 0
        let flags2 = reader.readUInt16LE() ?? 0
        let pidHigh = reader.readUInt16LE() ?? 0
        let security = reader.readUInt64LE() ?? 0
        let smbReserved = reader.readUInt16LE() ?? 0
        let tid = reader.readUInt16LE() ?? 0
        let pid = reader.readUInt16LE() ?? 0
        let uid = reader.readUInt16LE() ?? 0
        let mid = reader.readUInt16LE() ?? 0
        _ = reader.readUInt8()  // WordCount
        let totalParameterCount = reader.readUInt16LE() ?? 0
        let totalDataCount = reader.readUInt16LE() ?? 0
        let maxParameterCount = reader.readUInt16LE() ?? 0
        let maxDataCount = reader.readUInt16LE() ?? 0
        let maxSetupCount = reader.readUInt8() ?? 0
        let reserved1 = reader.readUInt8() ?? 0
        let transactionFlags = reader.readUInt16LE() ?? 0
        let timeout = reader.readUInt32LE() ?? 0
        let reserved2 = reader.readUInt16LE() ?? 0
        let parameterCount = reader.readUInt16LE() ?? 0
        let parameterOffset = reader.readUInt16LE() ?? 0
        let dataCount = reader.readUInt16LE() ?? 0
        let dataOffset = reader.readUInt16LE() ?? 0
        _ = reader.readUInt8()  // SetupCount
        let reserved3 = reader.readUInt8() ?? 0
        let opcode = reader.readUInt16LE() ?? 0
        let priority = reader.readUInt16LE() ?? 0
        let mailslotClass = reader.readUInt16LE() ?? 0
        let byteCount = reader.readUInt16LE() ?? 0

        guard opcode == mailslotWriteOpcode else { throw .notMailslotWrite(opcode: opcode) }

        guard let nul = smb[nameOffset...].firstIndex(of: 0) else { throw .nameNotTerminated }
        let nameBytes = Array(smb[nameOffset..<nul])
        guard WireBytes.hasPrefixCaseInsensitive(nameBytes, mailslotPrefixBytes),
              nameBytes.count > mailslotPrefixBytes.count
        else {
            throw .nameNotMailslot(WireBytes.latin1String(nameBytes))
        }
        let start = Int(dataOffset)
        let count = Int(dataCount)
        guard start + count <= smb.count else {
            throw .dataOutOfBounds(offset: start, count: count, available: smb.count)
        }
        let nameEnd = nul + 1
        guard count == 0 || start >= nameEnd else {
            throw .dataOverlapsName(dataOffset: start, nameEnd: nameEnd)
        }
        return MailslotTransaction(
            smbStatus: status, smbFlags: flags, smbFlags2: flags2, pidHigh: pidHigh,
            securityFeatures: security, smbReserved: smbReserved, tid: tid, pid: pid, uid: uid, mid: mid,
            totalParameterCount: totalParameterCount, totalDataCount: totalDataCount,
            maxParameterCount: maxParameterCount, maxDataCount: maxDataCount,
            maxSetupCount: maxSetupCount, reserved1: reserved1, transactionFlags: transactionFlags,
            timeout: timeout, reserved2: reserved2, parameterCount: parameterCount,
            parameterOffset: parameterOffset, dataCount: dataCount, dataOffset: dataOffset,
            reserved3: reserved3, opcode: opcode, priority: priority, mailslotClass: mailslotClass,
            byteCount: byteCount, mailslotNameBytes: nameBytes,
            data: count == 0 ? [] : Array(smb[start..<(start + count)]))
    }
}

/// How a sender fills the fields that receivers ignore. Two presets reproduce real senders:
/// ``windows`` (the MS-MAIL §4 client frame; the default) and ``samba`` (Samba source4 style).
public struct MailslotWriteStyle: Sendable, Hashable {
    /// Where ParameterOffset points (ParameterCount is always 0).
    public enum ParameterOffsetRule: Sendable, Hashable {
        /// ParameterOffset = 0 (Samba, scapy).
        case zero
        /// ParameterOffset = DataOffset (Windows).
        case sameAsDataOffset
    }

    /// Whether zero padding aligns the data to a 4-byte boundary.
    public enum DataAlignment: Sendable, Hashable {
        /// DataOffset = 70 + strlen(name) (Samba, MS-BRWS example).
        case none
        /// DataOffset = roundup4(70 + strlen(name)) (MS-MAIL "MUST", Windows).
        case fourBytes
    }

    /// NetBIOS datagram FLAGS byte.
    public var datagramFlags: NetBIOSDatagramFlags
    /// SMB header Flags.
    public var smbFlags: UInt8
    /// SMB header Flags2.
    public var smbFlags2: UInt16
    /// SMB header TID.
    public var tid: UInt16
    /// SMB header PIDLow.
    public var pid: UInt16
    /// MaxParameterCount.
    public var maxParameterCount: UInt16
    /// Transaction Flags (0x0002 = NO_RESPONSE).
    public var transactionFlags: UInt16
    /// Timeout in milliseconds.
    public var timeout: UInt32
    /// Setup[1] priority.
    public var priority: UInt16
    /// Setup[2] class (2 = unreliable & broadcast).
    public var mailslotClass: UInt16
    /// ParameterOffset policy.
    public var parameterOffset: ParameterOffsetRule
    /// Padding policy between the name and the data.
    public var dataAlignment: DataAlignment

    /// A custom style; usually start from ``windows`` or ``samba`` and change single fields.
    public init(
        datagramFlags: NetBIOSDatagramFlags, smbFlags: UInt8, smbFlags2: UInt16, tid: UInt16,
        pid: UInt16, maxParameterCount: UInt16, transactionFlags: UInt16, timeout: UInt32,
        priority: UInt16, mailslotClass: UInt16, parameterOffset: ParameterOffsetRule,
        dataAlignment: DataAlignment
    ) {
        self.datagramFlags = datagramFlags
        self.smbFlags = smbFlags
        self.smbFlags2 = smbFlags2
        self.tid = tid
        self.pid = pid
        self.maxParameterCount = maxParameterCount
        self.transactionFlags = transactionFlags
        self.timeout = timeout
        self.priority = priority
        self.mailslotClass = mailslotClass
        self.parameterOffset = parameterOffset
        self.dataAlignment = dataAlignment
    }

    /// Windows client: FLAGS 0x0E, SMB Flags 0x18, Flags2 0x0004, PID 0xFEFF, TID 0,
    /// MaxParameterCount 2, trans Flags 0x0002, Timeout 0, ParameterOffset = DataOffset,
    /// Priority 0, Class 2, data 4-byte aligned.
    public static let windows = MailslotWriteStyle(
        datagramFlags: .windows, smbFlags: 0x18, smbFlags2: 0x0004, tid: 0, pid: 0xFEFF,
        maxParameterCount: 2, transactionFlags: 0x0002, timeout: 0, priority: 0, mailslotClass: 2,
        parameterOffset: .sameAsDataOffset, dataAlignment: .fourBytes)

    /// Samba style: FLAGS 0x0A, SMB header zero, trans Flags 0, Timeout 1000, ParameterOffset 0,
    /// Priority 1, Class 2, no padding.
    public static let samba = MailslotWriteStyle(
        datagramFlags: .samba, smbFlags: 0, smbFlags2: 0, tid: 0, pid: 0, maxParameterCount: 0,
        transactionFlags: 0, timeout: 1000, priority: 1, mailslotClass: 2, parameterOffset: .zero,
        dataAlignment: .none)

    /// Exactly what Samba's nmbd puts on the wire (as captured): like ``samba`` but Timeout 0.
    public static let nmbd: MailslotWriteStyle = {
        var style = MailslotWriteStyle.samba
        style.timeout = 0
        return style
    }()
}

/// Why a mailslot datagram could not be built.
public enum MailslotWireEncodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name is not `\MAILSLOT\<non-empty>` (prefix in any case), contains NUL, or has a character
    /// above U+00FF.
    case invalidMailslotName(String)
    /// The message type is an error or query type, which carries no user data.
    case notDataDatagramType(NetBIOSDatagramType)
    /// The encoded fields (DataOffset + DataCount, DGM_LENGTH) would not fit in 16 bits.
    case messageTooLarge(byteCount: Int, maximum: Int)

    public var description: String {
        switch self {
        case .invalidMailslotName(let name):
            "invalid mailslot name \(name.debugDescription): expected \\MAILSLOT\\<name> in single-byte characters"
        case .notDataDatagramType(let type):
            "datagram type \(type) cannot carry a mailslot message"
        case .messageTooLarge(let count, let maximum):
            "message of \(count) bytes does not fit the datagram fields (at most \(maximum))"
        }
    }
}
