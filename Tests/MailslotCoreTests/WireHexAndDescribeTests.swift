import MailslotCore
import Testing

@Suite("Wire: hex text and describe()")
struct WireHexAndDescribeTests {
    @Test("hex parsing accepts whitespace, colons, 0x and both cases")
    func parse() throws {
        #expect(try HexText.parse("ff534d42") == [0xFF, 0x53, 0x4D, 0x42])
        #expect(try HexText.parse("FF:53:4d:42") == [0xFF, 0x53, 0x4D, 0x42])
        #expect(try HexText.parse("  ff 53\n4d\t42\r\n") == [0xFF, 0x53, 0x4D, 0x42])
        #expect(try HexText.parse("0xff53") == [0xFF, 0x53])
        #expect(try HexText.parse(" 0Xff53") == [0xFF, 0x53])
        #expect(try HexText.parse("f f") == [0xFF])
        #expect(try HexText.parse("").isEmpty)
        #expect(try HexText.parse(" : \n").isEmpty)
    }

    @Test("hex parsing errors")
    func parseErrors() {
        #expect(throws: HexTextError.oddLength(digits: 3)) { _ = try HexText.parse("abc") }
        #expect(throws: HexTextError.oddLength(digits: 1)) { _ = try HexText.parse("a") }
        #expect(throws: HexTextError.invalidCharacter("g", offset: 2)) { _ = try HexText.parse("abgd") }
        #expect(throws: HexTextError.invalidCharacter("-", offset: 2)) { _ = try HexText.parse("ab-cd") }
        #expect(throws: HexTextError.invalidCharacter("é", offset: 2)) { _ = try HexText.parse("abé") }
        #expect(!HexTextError.oddLength(digits: 3).description.isEmpty)
    }

    @Test("hex formatting and dump lines")
    func format() {
        #expect(HexText.string(from: [0x00, 0xAB, 0xFF]) == "00abff")
        let lines = HexText.dumpLines(Array("Hello, mailslot world!".utf8) + [0x00, 0x7F])
        #expect(lines.count == 2)
        #expect(lines[0] == "0000  48 65 6c 6c 6f 2c 20 6d 61 69 6c 73 6c 6f 74 20  Hello, mailslot ")
        #expect(lines[1].hasPrefix("0010  77 6f 72 6c 64 21 00 7f"))
        #expect(lines[1].hasSuffix("world!.."))
        #expect(HexText.dumpLines([]).isEmpty)
    }

    @Test("describe() of the worked example lists every field with its value")
    func describeWorkedExample() throws {
        let decoded = try decodeDatagram(try WireFixtures.workedExample())
        let lines = decoded.describe()
        func line(_ label: String) -> String? {
            lines.first { $0.hasPrefix("  " + label + " ") }
        }
        #expect(line("MSG_TYPE")?.hasSuffix("0x10 DIRECT_UNIQUE") == true)
        #expect(line("FLAGS")?.contains("0x0e (FIRST, node H/NBDD)") == true)
        #expect(line("DGM_ID")?.hasSuffix("4660 (0x1234)") == true)
        #expect(line("SOURCE_IP")?.contains("192.168.1.10") == true)
        #expect(line("SOURCE_PORT")?.hasSuffix("138") == true)
        #expect(line("DGM_LENGTH")?.hasSuffix("157") == true)
        #expect(line("PACKET_OFFSET")?.hasSuffix("0") == true)
        #expect(line("SOURCE_NAME")?.contains("HOSTA<00> (suffix 0x00, encoded EIEPFDFEEBCACACACACACACACACACAAA)") == true)
        #expect(line("DESTINATION_NAME")?.contains("HOSTB<00>") == true)
        #expect(line("Flags")?.hasSuffix("0x18") == true)
        #expect(line("Flags2")?.hasSuffix("0x0004") == true)
        #expect(line("PIDLow")?.hasSuffix("65279 (0xfeff)") == true)
        #expect(line("TID")?.hasSuffix("0 (0x0000)") == true)
        #expect(line("MaxParameterCount")?.hasSuffix("2") == true)
        #expect(line("ParameterOffset")?.hasSuffix("84") == true)
        #expect(line("DataOffset")?.hasSuffix("84") == true)
        #expect(line("DataCount")?.hasSuffix("5") == true)
        #expect(line("Setup[2] Class")?.hasSuffix("2 (unreliable & broadcast)") == true)
        #expect(line("ByteCount")?.hasSuffix("20") == true)
        #expect(line("MailslotName")?.hasSuffix(#" \MAILSLOT\TEST"#) == true)
        #expect(lines.contains { $0.contains("48 65 6c 6c 6f") && $0.hasSuffix("Hello") })
        #expect(lines.contains { $0.contains("NO_RESPONSE") })
    }

    @Test("describe() limits the data preview")
    func previewLimit() throws {
        let message = try NetBIOSMailslotDatagram(
            datagramID: 1, sourceIP: 1, sourceName: NetBIOSName("A"), destinationName: NetBIOSName("B"),
            mailslotName: "\\MAILSLOT\\BIG", data: [UInt8](repeating: 0x41, count: 100))
        let lines = message.describe(maxPreviewBytes: 32)
        #expect(lines.contains("    ... 68 more byte(s)"))
        #expect(lines.filter { $0.hasPrefix("    00") }.count == 2)
    }

    @Test("describe() of error and query packets")
    func describeOthers() throws {
        let header = NetBIOSDatagramHeader(messageType: .error, flags: .samba, datagramID: 9, sourceIP: 0x0A00_0001)
        let lines = DecodedDatagram.error(NetBIOSDatagramErrorPacket(header: header, errorCode: 0x83)).describe()
        #expect(lines.contains { $0.contains("ERROR_CODE") && $0.contains("invalid source name format") })
        var queryHeader = header
        queryHeader.messageType = .positiveQueryResponse
        let query = DecodedDatagram.query(
            NetBIOSDatagramQueryPacket(header: queryHeader, destinationName: try NetBIOSName("NMBDA", suffix: 0x20)))
        #expect(query.describe().contains { $0.contains("DESTINATION_NAME") && $0.contains("NMBDA<20>") })
        #expect(query.describe().contains { $0.contains("DATAGRAM_POSITIVE_QUERY_RESPONSE") })
    }
}
