import MailslotCore
import Testing

@Suite("Wire: mailslot datagram encode/decode")
struct WireDatagramTests {
    func workedExampleDatagram(style: MailslotWriteStyle = .windows) throws -> NetBIOSMailslotDatagram {
        try NetBIOSMailslotDatagram(
            messageType: .directUnique,
            datagramID: 0x1234,
            sourceIP: NetBIOSDatagramHeader.ipv4(192, 168, 1, 10),
            sourcePort: 138,
            sourceName: NetBIOSName("HOSTA"),
            destinationName: NetBIOSName("HOSTB", suffix: 0x00),
            mailslotName: "\\MAILSLOT\\TEST",
            data: Array("Hello".utf8),
            style: style)
    }

    @Test("worked example (spec §2.7) encodes byte for byte")
    func workedExampleEncodes() throws {
        let expected = try WireFixtures.workedExample()
        #expect(expected.count == 171)
        let built = try workedExampleDatagram()
        #expect(built.encoded() == expected)
        #expect(HexText.string(from: built.encoded()) == HexText.string(from: expected))
        #expect(built.datagram.dgmLength == 157)
        #expect(built.transaction.encoded().count == 89)
    }

    @Test("worked example decodes to its fields")
    func workedExampleDecodes() throws {
        let message = try wireDecodeMailslot(try WireFixtures.workedExample())
        let header = message.header
        #expect(header.messageType == .directUnique)
        #expect(header.flags.rawValue == 0x0E)
        #expect(header.flags.first && !header.flags.more && header.flags.nodeType == .h)
        #expect(header.datagramID == 0x1234)
        #expect(header.sourceIP == 0xC0A8_010A)
        #expect(header.sourceIPString == "192.168.1.10")
        #expect(header.sourceIPBytes == [192, 168, 1, 10])
        #expect(header.sourcePort == 138)
        #expect(message.datagram.dgmLength == 157)
        #expect(message.datagram.computedDgmLength == 157)
        #expect(message.datagram.packetOffset == 0)
        #expect(message.sourceName.description == "HOSTA<00>")
        #expect(message.destinationName.description == "HOSTB<00>")
        #expect(message.sourceName == (try NetBIOSName("HOSTA")))
        let t = message.transaction
        #expect(t.smbStatus == 0)
        #expect(t.smbFlags == 0x18)
        #expect(t.smbFlags2 == 0x0004)
        #expect(t.pidHigh == 0 && t.securityFeatures == 0 && t.smbReserved == 0)
        #expect(t.tid == 0)
        #expect(t.pid == 0xFEFF)
        #expect(t.uid == 0 && t.mid == 0)
        #expect(t.totalParameterCount == 0)
        #expect(t.totalDataCount == 5)
        #expect(t.maxParameterCount == 2)
        #expect(t.maxDataCount == 0 && t.maxSetupCount == 0 && t.reserved1 == 0)
        #expect(t.transactionFlags == 0x0002)
        #expect(t.timeout == 0)
        #expect(t.reserved2 == 0)
        #expect(t.parameterCount == 0)
        #expect(t.parameterOffset == 84)
        #expect(t.dataCount == 5)
        #expect(t.dataOffset == 84)
        #expect(t.reserved3 == 0)
        #expect(t.opcode == 1)
        #expect(t.priority == 0)
        #expect(t.mailslotClass == 2)
        #expect(t.byteCount == 20)
        #expect(t.mailslotName == "\\MAILSLOT\\TEST")
        #expect(t.mailslotNameAfterPrefix == "TEST")
        #expect(t.paddingLength == 0)
        #expect(message.data == Array("Hello".utf8))
        #expect(message.mailslotName == "\\MAILSLOT\\TEST")
    }

    @Test("encode(decode(x)) == x for the worked example, at both layers")
    func workedExampleRoundTrip() throws {
        let bytes = try WireFixtures.workedExample()
        let message = try wireDecodeMailslot(bytes)
        #expect(message.encoded() == bytes)
        #expect(message.transaction.encoded() == message.datagram.userData)
        #expect(try workedExampleDatagram() == message)
    }

    @Test("Windows style pads the data to a 4-byte boundary (MS-MAIL §4 frame shape)")
    func windowsPadding() throws {
        // MS-MAIL §4: \MAILSLOT\test1\sample_mailslot (31 chars), 36 bytes of 0xCA → 140-byte SMB.
        let data = [UInt8](repeating: 0xCA, count: 36)
        let t = try MailslotTransaction(mailslotName: "\\MAILSLOT\\test1\\sample_mailslot", data: data)
        let smb = t.encoded()
        #expect(smb.count == 140)
        #expect(t.dataOffset == 104)
        #expect(t.parameterOffset == 104)
        #expect(t.paddingLength == 3)
        #expect(t.byteCount == 71)
        #expect(Array(smb[101..<104]) == [0, 0, 0])
        #expect(Array(smb[104...]) == data)
        let decoded = try MailslotTransaction.decode(smb: smb)
        #expect(decoded == t)
        #expect(decoded.encoded() == smb)

        // Every name length: DataOffset is roundup4(70 + len) and aligned.
        for length in 1...40 {
            let name = "\\MAILSLOT\\" + String(repeating: "N", count: length)
            let built = try MailslotTransaction(mailslotName: name, data: [1, 2, 3])
            let unpadded = 70 + name.utf8.count
            #expect(Int(built.dataOffset) == (unpadded + 3) / 4 * 4)
            #expect(built.dataOffset % 4 == 0)
            #expect(Int(built.byteCount) == Int(built.dataOffset) - 69 + 3)
            #expect(try MailslotTransaction.decode(smb: built.encoded()) == built)
        }
    }

    @Test("Samba style: flags 0x0A, zero SMB header, no padding, ParameterOffset 0, priority 1, timeout 1000")
    func sambaStyle() throws {
        let message = try workedExampleDatagram(style: .samba)
        let bytes = message.encoded()
        #expect(bytes[1] == 0x0A)
        let smb = Array(bytes[WireFixtures.smbStart...])
        #expect(Array(smb[0..<5]) == [0xFF, 0x53, 0x4D, 0x42, 0x25])
        #expect(smb[5..<32].allSatisfy { $0 == 0 })
        let t = try MailslotTransaction.decode(smb: smb)
        #expect(t.parameterOffset == 0)
        #expect(t.dataOffset == 84)
        #expect(t.priority == 1 && t.mailslotClass == 2 && t.timeout == 1000)
        #expect(t.transactionFlags == 0 && t.maxParameterCount == 0)

        // Unpadded layout with a name whose DataOffset is not aligned.
        let browse = try MailslotTransaction(mailslotName: "\\MAILSLOT\\BROWSE", data: [0x01], style: .samba)
        #expect(browse.dataOffset == 86)
        #expect(browse.paddingLength == 0)
    }

    @Test("the encoder upper-cases the \\MAILSLOT\\ prefix and keeps the rest as given")
    func prefixUppercased() throws {
        let t = try MailslotTransaction(mailslotName: "\\mailslot\\Net\\NetLogon", data: [])
        #expect(t.mailslotName == "\\MAILSLOT\\Net\\NetLogon")
        #expect(t.dataCount == 0 && t.data.isEmpty)
        #expect(try MailslotTransaction.decode(smb: t.encoded()) == t)
    }

    @Test("DIRECT_GROUP and BROADCAST frames build and decode")
    func otherDataTypes() throws {
        for type in [NetBIOSDatagramType.directGroup, .broadcast] {
            let message = try NetBIOSMailslotDatagram(
                messageType: type, datagramID: 7, sourceIP: 0x0A00_0001, sourceName: NetBIOSName("A"),
                destinationName: type == .broadcast ? NetBIOSName("*") : NetBIOSName("DOMAIN", suffix: 0x1C),
                mailslotName: "\\MAILSLOT\\NET\\NETLOGON", data: [9, 8, 7])
            let decoded = try wireDecodeMailslot(message.encoded())
            #expect(decoded == message)
            #expect(decoded.messageType == type)
        }
    }

    @Test("error and query message types are recognised but are not mailslot messages")
    func errorAndQueryPackets() throws {
        let header = NetBIOSDatagramHeader(
            messageType: .error, flags: .windows, datagramID: 1, sourceIP: 0x0A00_0001)
        let errorPacket = NetBIOSDatagramErrorPacket(header: header, errorCode: 0x82)
        let decodedError = try decodeDatagram(errorPacket.encoded())
        #expect(decodedError == .error(errorPacket))
        #expect(decodedError.mailslot == nil)
        #expect(decodedError.header.messageType == .error)
        #expect(errorPacket.errorCodeDescription == "destination name not present")

        for type in [NetBIOSDatagramType.queryRequest, .positiveQueryResponse, .negativeQueryResponse] {
            var queryHeader = header
            queryHeader.messageType = type
            let packet = NetBIOSDatagramQueryPacket(header: queryHeader, destinationName: try NetBIOSName("HOSTB"))
            let decoded = try decodeDatagram(packet.encoded())
            #expect(decoded == .query(packet))
            #expect(decoded.mailslot == nil)
            #expect(!type.carriesUserData)
        }
    }

    @Test("NetBIOSDatagram decodes the NetBIOS layer alone and re-encodes verbatim")
    func genericLayer() throws {
        let bytes = try WireFixtures.workedExample()
        let datagram = try NetBIOSDatagram.decode(bytes)
        #expect(datagram.encoded() == bytes)
        #expect(datagram.userDataOffset == 82)
        #expect(datagram.userData.count == 89)
        var changed = datagram
        changed.userData = [1, 2, 3]
        #expect(changed.computedDgmLength == 71)
        #expect(try NetBIOSDatagram.decode(changed.encoded()).userData == [1, 2, 3])
    }

    @Test("flags helpers")
    func flagsHelpers() {
        #expect(NetBIOSDatagramFlags(nodeType: .h) == .windows)
        #expect(NetBIOSDatagramFlags(nodeType: .m) == .samba)
        #expect(NetBIOSDatagramFlags(nodeType: .b).rawValue == 0x02)
        #expect(NetBIOSDatagramFlags(more: true, first: true, nodeType: .p).rawValue == 0x07)
        #expect(NetBIOSDatagramFlags(rawValue: 0xF3).reservedBits == 0xF0)
        #expect(NetBIOSDatagramFlags.windows.description == "0x0e (FIRST, node H/NBDD)")
        #expect(MailslotWriteStyle.nmbd.timeout == 0)
        #expect(MailslotWriteStyle.nmbd.datagramFlags == .samba)
    }

    @Test("builder refuses invalid names and non-data types")
    func builderErrors() throws {
        for bad in ["TEST", "\\MAILSLOT\\", "\\mailslot\\", "\\PIPE\\X", "\\MAILSLOT\\a\u{0}b", "\\MAILSLOT\\名前", ""] {
            #expect(throws: MailslotWireEncodeError.invalidMailslotName(bad)) {
                _ = try MailslotTransaction(mailslotName: bad, data: [1])
            }
        }
        #expect(throws: MailslotWireEncodeError.notDataDatagramType(.error)) {
            _ = try NetBIOSMailslotDatagram(
                messageType: .error, datagramID: 0, sourceIP: 0, sourceName: NetBIOSName("A"),
                destinationName: NetBIOSName("B"), mailslotName: "\\MAILSLOT\\X", data: [])
        }
        // 16-bit fields: DataOffset + DataCount must fit.
        let tooBig = [UInt8](repeating: 0, count: 65_536)
        #expect(throws: MailslotWireEncodeError.self) {
            _ = try MailslotTransaction(mailslotName: "\\MAILSLOT\\X", data: tooBig)
        }
        let fitsSMB = [UInt8](repeating: 0, count: 65_535 - 84)
        let smbOnly = try MailslotTransaction(mailslotName: "\\MAILSLOT\\X", data: fitsSMB)
        #expect(smbOnly.encodedLength == 65_535)
        // ... but then DGM_LENGTH (names + SMB) overflows.
        #expect(throws: MailslotWireEncodeError.messageTooLarge(byteCount: fitsSMB.count, maximum: 65_535 - 84 - 68)) {
            _ = try NetBIOSMailslotDatagram(
                datagramID: 0, sourceIP: 0, sourceName: NetBIOSName("A"), destinationName: NetBIOSName("B"),
                mailslotName: "\\MAILSLOT\\X", data: fitsSMB)
        }
        let longName = "\\MAILSLOT\\" + String(repeating: "x", count: 70_000)
        #expect(throws: MailslotWireEncodeError.self) {
            _ = try MailslotTransaction(mailslotName: longName, data: [])
        }
    }

    @Test("zero-length message round-trips")
    func emptyMessage() throws {
        for style in [MailslotWriteStyle.windows, .samba] {
            let message = try NetBIOSMailslotDatagram(
                datagramID: 1, sourceIP: 1, sourceName: NetBIOSName("A"), destinationName: NetBIOSName("B"),
                mailslotName: "\\MAILSLOT\\EMPTY", data: [], style: style)
            let decoded = try wireDecodeMailslot(message.encoded())
            #expect(decoded.data.isEmpty)
            #expect(decoded == message)
        }
    }

    @Test("trailing bytes after the data are tolerated and reported")
    func trailingBytes() throws {
        var bytes = try WireFixtures.workedExample()
        bytes += [0xEE, 0xEE]
        let message = try wireDecodeMailslot(bytes)
        #expect(message.data == Array("Hello".utf8))
        #expect(message.encoded() == bytes)
        #expect(message.describe().contains { $0.contains("Trailing bytes") && $0.contains("2 byte(s)") })
    }

    @Test("DGM_LENGTH is informational: a wrong value does not change decoding")
    func dgmLengthIgnored() throws {
        var bytes = try WireFixtures.workedExample()
        for value: UInt16 in [0, 1, 156, 158, 0xFFFF] {
            bytes[10] = UInt8(value >> 8)
            bytes[11] = UInt8(value & 0xFF)
            let message = try wireDecodeMailslot(bytes)
            #expect(message.datagram.dgmLength == value)
            #expect(message.data == Array("Hello".utf8))
            #expect(message.describe().contains { $0.contains("DGM_LENGTH") && $0.contains("(actual 157)") })
        }
    }

    @Test("decoding accepts lower-case prefixes, TID 0xFFFF, class 1 and any node type")
    func receiverLeniency() throws {
        var bytes = try WireFixtures.workedExample()
        let smb = WireFixtures.smbStart
        // "\mailslot\test"
        for (index, char) in "\\mailslot\\test".utf8.enumerated() { bytes[smb + 69 + index] = char }
        wirePutUInt16LE(0xFFFF, into: &bytes, at: smb + 24)  // TID
        wirePutUInt16LE(1, into: &bytes, at: smb + 65)  // class 1
        wirePutUInt16LE(0, into: &bytes, at: smb + 53)  // ParameterOffset 0
        for flags: UInt8 in [0x02, 0x06, 0x0A, 0x0E] {
            bytes[1] = flags
            let message = try wireDecodeMailslot(bytes)
            #expect(message.mailslotName == "\\mailslot\\test")
            #expect(message.transaction.tid == 0xFFFF)
            #expect(message.transaction.mailslotClass == 1)
            #expect(message.data == Array("Hello".utf8))
        }
    }

    @Test("data is located by DataOffset only, not by the end of the name")
    func dataByOffset() throws {
        // Build an unpadded frame, then move the data 8 bytes further with non-zero filler.
        let base = try MailslotTransaction(mailslotName: "\\MAILSLOT\\BROWSE", data: [1, 2, 3], style: .samba)
        var smb = base.encoded()
        smb.insert(contentsOf: [0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x11, 0x22], at: Int(base.dataOffset))
        wirePutUInt16LE(base.dataOffset + 8, into: &smb, at: 57)
        let t = try MailslotTransaction.decode(smb: smb)
        #expect(t.data == [1, 2, 3])
        #expect(t.paddingLength == 8)
        #expect(t.describe().contains { $0.contains("Padding") && $0.contains("8 byte(s)") })
    }
}
