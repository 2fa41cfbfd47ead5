import MailslotCore
import Testing

@Suite("Wire: rejection reasons")
struct WireRejectionTests {
    let smb = WireFixtures.smbStart

    func worked() throws -> [UInt8] { try WireFixtures.workedExample() }

    @Test("every truncation of the worked example throws the reason for where it was cut")
    func truncationsOfWorkedExample() throws {
        let bytes = try worked()
        // Layout: header 0..<14, source name 14..<48, destination 48..<82, SMB 82..<171,
        // SMB fixed part through 82+69 = 151, name "\MAILSLOT\TEST" 151..<165, NUL at 165, data 166..<171.
        for length in 0..<bytes.count {
            let error = try #require(wireDecodeError(Array(bytes.prefix(length))), "length \(length)")
            let expected: DatagramDecodeError = switch length {
            case 0..<10: .truncatedHeader(needed: 10, available: length)
            case 10..<14: .truncatedHeader(needed: 14, available: length)
            case 14..<48: .badNameEncoding(.source, .truncated)
            case 48..<82: .badNameEncoding(.destination, .truncated)
            case 82..<86: .notSMB
            case 86..<115: .truncatedSMB(needed: 33, available: length - 82)
            case 115..<151: .truncatedSMB(needed: 69, available: length - 82)
            case 151...165: .nameNotTerminated
            default: .dataOutOfBounds(offset: 84, count: 5, available: length - 82)
            }
            #expect(error == expected, "length \(length)")
        }
    }

    @Test("every truncation of every good vector throws", arguments: try WireFixtures.goodVectors())
    func truncationsOfVectors(vector: WireVector) {
        for length in 0..<vector.bytes.count {
            #expect(wireDecodeError(Array(vector.bytes.prefix(length))) != nil, "\(vector.file) length \(length)")
        }
    }

    @Test("unknown message types")
    func unsupportedMessageType() throws {
        var bytes = try worked()
        for type: UInt8 in [0x00, 0x0F, 0x17, 0x20, 0xFF] {
            bytes[0] = type
            #expect(wireDecodeError(bytes) == .unsupportedMessageType(type))
        }
        #expect(wireDecodeError([0x42]) == .unsupportedMessageType(0x42))
    }

    @Test("error packet without its error code, query packet with a bad name")
    func shortNonDataPackets() throws {
        let header = try Array(worked().prefix(10))
        var error = header
        error[0] = 0x13
        #expect(wireDecodeError(error) == .truncatedHeader(needed: 11, available: 10))
        var query = header
        query[0] = 0x14
        #expect(wireDecodeError(query) == .badNameEncoding(.destination, .truncated))
        query += [0x21]
        #expect(wireDecodeError(query) == .badNameEncoding(.destination, .badLength(0x21)))
    }

    @Test("notDataDatagram from the layer-specific decoders")
    func notDataDatagram() throws {
        let packet = NetBIOSDatagramErrorPacket(
            header: NetBIOSDatagramHeader(messageType: .error, flags: .windows, datagramID: 0, sourceIP: 0),
            errorCode: 0x84)
        #expect(throws: DatagramDecodeError.notDataDatagram(.error)) {
            _ = try NetBIOSDatagram.decode(packet.encoded())
        }
        #expect(throws: DatagramDecodeError.notDataDatagram(.error)) {
            _ = try NetBIOSMailslotDatagram.decode(packet.encoded())
        }
        let query = NetBIOSDatagramQueryPacket(
            header: NetBIOSDatagramHeader(messageType: .queryRequest, flags: .windows, datagramID: 0, sourceIP: 0),
            destinationName: try NetBIOSName("X"))
        #expect(throws: DatagramDecodeError.notDataDatagram(.queryRequest)) {
            _ = try NetBIOSMailslotDatagram.decode(query.encoded())
        }
        #expect(try NetBIOSMailslotDatagram.decode(try worked()).mailslotName == "\\MAILSLOT\\TEST")
    }

    @Test("fragments are rejected: MORE set, FIRST clear, or PACKET_OFFSET ≠ 0")
    func fragmented() throws {
        var more = try worked()
        more[1] |= 0x01
        #expect(wireDecodeError(more) == .fragmented(flags: 0x0F, packetOffset: 0))
        var notFirst = try worked()
        notFirst[1] = 0x0C
        #expect(wireDecodeError(notFirst) == .fragmented(flags: 0x0C, packetOffset: 0))
        var offset = try worked()
        offset[13] = 0x10
        #expect(wireDecodeError(offset) == .fragmented(flags: 0x0E, packetOffset: 16))
        #expect(wireDecodeError(offset)?.reason == "fragmented")
    }

    @Test("bad name encodings: characters, first length byte, pointers, scope labels")
    func badNames() throws {
        var badChar = try worked()
        badChar[15] = 0x5A  // 'Z'
        #expect(wireDecodeError(badChar) == .badNameEncoding(.source, .badCharacter(0x5A)))
        var badLow = try worked()
        badLow[20] = 0x40  // '@' just below 'A'
        #expect(wireDecodeError(badLow) == .badNameEncoding(.source, .badCharacter(0x40)))
        var badDestination = try worked()
        badDestination[60] = 0x51  // 'Q' just above 'P'
        #expect(wireDecodeError(badDestination) == .badNameEncoding(.destination, .badCharacter(0x51)))

        var badLength = try worked()
        badLength[14] = 31
        #expect(wireDecodeError(badLength) == .badNameEncoding(.source, .badLength(31)))
        var badDestinationLength = try worked()
        badDestinationLength[48] = 33
        #expect(wireDecodeError(badDestinationLength) == .badNameEncoding(.destination, .badLength(33)))

        var pointer = try worked()
        pointer[14] = 0xC0
        #expect(wireDecodeError(pointer) == .badNameEncoding(.source, .compressionPointer))
        var scopePointer = try worked()
        scopePointer[47] = 0xC0  // source name terminator → pointer
        #expect(wireDecodeError(scopePointer) == .badNameEncoding(.source, .compressionPointer))
        var longLabel = try worked()
        longLabel[47] = 0x40
        #expect(wireDecodeError(longLabel) == .badNameEncoding(.source, .labelTooLong(0x40)))
        #expect(wireDecodeError(longLabel)?.reason == "bad_name_encoding")
    }

    @Test("not an SMB message")
    func notSMB() throws {
        for index in 0..<4 {
            var bytes = try worked()
            bytes[smb + index] ^= 0x01
            #expect(wireDecodeError(bytes) == .notSMB)
        }
    }

    @Test("wrong SMB command")
    func wrongCommand() throws {
        var bytes = try worked()
        bytes[smb + 4] = 0x32  // SMB_COM_TRANSACTION2
        #expect(wireDecodeError(bytes) == .wrongSMBCommand(0x32))
    }

    @Test("wrong word count")
    func wrongWordCount() throws {
        for count: UInt8 in [0, 14, 16, 18, 0xFF] {
            var bytes = try worked()
            bytes[smb + 32] = count
            #expect(wireDecodeError(bytes) == .wrongWordCount(count))
        }
    }

    @Test("wrong setup count")
    func wrongSetupCount() throws {
        for count: UInt8 in [0, 2, 4] {
            var bytes = try worked()
            bytes[smb + 59] = count
            #expect(wireDecodeError(bytes) == .wrongSetupCount(count))
        }
    }

    @Test("opcode other than 1 (e.g. 2) is not a mailslot write")
    func notMailslotWrite() throws {
        for opcode: UInt16 in [0, 2, 0x0100] {
            var bytes = try worked()
            wirePutUInt16LE(opcode, into: &bytes, at: smb + 61)
            #expect(wireDecodeError(bytes) == .notMailslotWrite(opcode: opcode))
        }
    }

    @Test("DataOffset + DataCount past the end")
    func dataOutOfBounds() throws {
        var count = try worked()
        wirePutUInt16LE(6, into: &count, at: smb + 55)
        #expect(wireDecodeError(count) == .dataOutOfBounds(offset: 84, count: 6, available: 89))
        var offset = try worked()
        wirePutUInt16LE(85, into: &offset, at: smb + 57)
        #expect(wireDecodeError(offset) == .dataOutOfBounds(offset: 85, count: 5, available: 89))
        var huge = try worked()
        wirePutUInt16LE(0xFFFF, into: &huge, at: smb + 55)
        wirePutUInt16LE(0xFFFF, into: &huge, at: smb + 57)
        #expect(wireDecodeError(huge) == .dataOutOfBounds(offset: 65_535, count: 65_535, available: 89))
        // DataOffset exactly at the end with DataCount 0 is a valid empty message.
        var empty = try worked()
        wirePutUInt16LE(0, into: &empty, at: smb + 55)
        wirePutUInt16LE(89, into: &empty, at: smb + 57)
        #expect(try wireDecodeMailslot(empty).data.isEmpty)
    }

    @Test("data overlapping the SMB header or name")
    func dataOverlapsName() throws {
        var bytes = try worked()
        wirePutUInt16LE(70, into: &bytes, at: smb + 57)
        #expect(wireDecodeError(bytes) == .dataOverlapsName(dataOffset: 70, nameEnd: 84))
        wirePutUInt16LE(0, into: &bytes, at: smb + 57)
        #expect(wireDecodeError(bytes) == .dataOverlapsName(dataOffset: 0, nameEnd: 84))
    }

    @Test("mailslot name without a NUL terminator")
    func nameNotTerminated() throws {
        var bytes = try worked()
        bytes[165] = 0x58  // the NUL after \MAILSLOT\TEST; "Hello" has no zero byte
        #expect(wireDecodeError(bytes) == .nameNotTerminated)
        let empty = try NetBIOSMailslotDatagram(
            datagramID: 1, sourceIP: 1, sourceName: NetBIOSName("A"), destinationName: NetBIOSName("B"),
            mailslotName: "\\MAILSLOT\\Q", data: [], style: .samba)
        #expect(wireDecodeError(Array(empty.encoded().dropLast())) == .nameNotTerminated)
    }

    @Test("names that are not \\MAILSLOT\\<name>")
    func nameNotMailslot() throws {
        var wrongPrefix = try worked()
        wrongPrefix[smb + 69 + 8] = 0x58  // \MAILSLOX\TEST
        #expect(wireDecodeError(wrongPrefix) == .nameNotMailslot("\\MAILSLOX\\TEST"))

        var pipe = try worked()
        for (index, char) in "\\PIPE\\LANMAN\0".utf8.enumerated() { pipe[smb + 69 + index] = char }
        #expect(wireDecodeError(pipe) == .nameNotMailslot("\\PIPE\\LANMAN"))

        // "\MAILSLOT\" with nothing after it.
        let built = try NetBIOSMailslotDatagram(
            datagramID: 1, sourceIP: 1, sourceName: NetBIOSName("A"), destinationName: NetBIOSName("B"),
            mailslotName: "\\MAILSLOT\\A", data: [7], style: .samba)
        var emptyName = built.encoded()
        emptyName[smb + 69 + 10] = 0
        #expect(wireDecodeError(emptyName) == .nameNotMailslot("\\MAILSLOT\\"))
        #expect(wireDecodeError(emptyName)?.reason == "name_not_mailslot")

        var noName = try worked()
        noName[smb + 69] = 0
        #expect(wireDecodeError(noName) == .nameNotMailslot(""))
    }

    @Test("every reason is distinct, short and snake_case; every description is non-empty")
    func reasonsAreStable() {
        let name = NetBIOSNameDecodeError.truncated
        let all: [DatagramDecodeError] = [
            .truncatedHeader(needed: 14, available: 3), .unsupportedMessageType(0x20),
            .notDataDatagram(.error), .fragmented(flags: 0x03, packetOffset: 0),
            .badNameEncoding(.source, name), .notSMB, .truncatedSMB(needed: 69, available: 40),
            .wrongSMBCommand(0x32), .wrongWordCount(16), .wrongSetupCount(2), .notMailslotWrite(opcode: 2),
            .nameNotTerminated, .nameNotMailslot("\\PIPE\\X"),
            .dataOutOfBounds(offset: 86, count: 1024, available: 97),
            .dataOverlapsName(dataOffset: 70, nameEnd: 84),
        ]
        let reasons = all.map(\.reason)
        #expect(Set(reasons).count == all.count)
        #expect(reasons == [
            "truncated_header", "unsupported_message_type", "not_data_datagram", "fragmented",
            "bad_name_encoding", "not_smb", "truncated_smb", "wrong_smb_command", "wrong_word_count",
            "wrong_setup_count", "not_mailslot_write", "name_not_terminated", "name_not_mailslot",
            "data_out_of_bounds", "data_overlaps_name",
        ])
        for error in all {
            #expect(!error.description.isEmpty)
            #expect(error.reason.allSatisfy { $0.isLowercase || $0 == "_" })
        }
        #expect(DatagramDecodeError.badNameEncoding(.destination, .badCharacter(0x5A)).description
            == "bad destination NetBIOS name: encoded character 0x5a is not in 'A'...'P'")
        #expect(DatagramDecodeError.dataOutOfBounds(offset: 86, count: 1024, available: 97).description
            == "mailslot data out of bounds: DataOffset 86 + DataCount 1024 > 97 SMB bytes received")
    }
}
