import MailslotCore
import Testing

/// A template's datagrams are the datagrams the initializer encodes, byte for byte, for every style,
/// name length (the SMB data is aligned differently), id and size up to the 16-bit limit.
@Suite("Wire: datagram templates")
struct MailslotDatagramTemplateTests {
    @Test(arguments: [MailslotWriteStyle.windows, .samba, .nmbd])
    func aTemplatesDatagramsAreTheInitializersByteForByte(style: MailslotWriteStyle) throws {
        let names = [#"\MAILSLOT\A"#, #"\MAILSLOT\BROWSE"#, #"\mailslot\net\netlogon"#, #"\MAILSLOT\é-seven"#, #"\MAILSLOT\"# + String(repeating: "x", count: 200)]
        let cases: [(NetBIOSDatagramType, NetBIOSName, NetBIOSName)] = [
            (.directGroup, try NetBIOSName("WRITER"), try NetBIOSName("MSTEST", suffix: 0x00)),
            (.directUnique, try NetBIOSName("A"), try NetBIOSName("FARHOST", suffix: 0x00)),
            (.broadcast, try NetBIOSName("WITHSCOPE", suffix: 0x20, scope: ["corp", "example"]), try NetBIOSName("*")),
        ]
        for mailslot in names {
            for (type, source, destination) in cases {
                let template = try MailslotDatagramTemplate(messageType: type, sourceIP: 0x0A00_0102, sourcePort: 138, sourceName: source,
                                                            destinationName: destination, mailslotName: mailslot, style: style)
                for (id, size) in [(UInt16(0), 0), (1, 1), (0xFFFF, 3), (0x1234, 424), (7, 4_096)] {
                    let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
                    let expected = try NetBIOSMailslotDatagram(messageType: type, datagramID: id, sourceIP: 0x0A00_0102, sourcePort: 138,
                                                               sourceName: source, destinationName: destination, mailslotName: mailslot,
                                                               data: data, style: style).encoded()
                    #expect(try template.encoded(datagramID: id, data: data) == expected, "\(mailslot) \(type) \(id) \(size)")
                }
            }
        }
    }

    /// The largest data fills the 16-bit length fields exactly, as the initializer allows; one byte more is refused by both.
    @Test func theLargestDataIsTheInitializersLimit() throws {
        let source = try NetBIOSName("WRITER"), destination = try NetBIOSName("MSTEST", suffix: 0x00)
        let template = try MailslotDatagramTemplate(messageType: .directGroup, sourceIP: 1, sourceName: source, destinationName: destination,
                                                    mailslotName: #"\MAILSLOT\BROWSE"#)
        let largest = [UInt8](repeating: 0x41, count: template.largestData)
        let expected = try NetBIOSMailslotDatagram(messageType: .directGroup, datagramID: 9, sourceIP: 1, sourceName: source, destinationName: destination,
                                                   mailslotName: #"\MAILSLOT\BROWSE"#, data: largest).encoded()
        #expect(try template.encoded(datagramID: 9, data: largest) == expected)
        let tooMany = largest + [0]
        #expect(throws: MailslotWireEncodeError.self) {
            try NetBIOSMailslotDatagram(messageType: .directGroup, datagramID: 9, sourceIP: 1, sourceName: source, destinationName: destination,
                                        mailslotName: #"\MAILSLOT\BROWSE"#, data: tooMany)
        }
        #expect(throws: MailslotWireEncodeError.messageTooLarge(byteCount: tooMany.count, maximum: template.largestData)) {
            try template.encoded(datagramID: 9, data: tooMany)
        }
    }
}
