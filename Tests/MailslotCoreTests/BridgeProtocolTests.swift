import MailslotCore
import Testing

/// The bridge's subjects and datagram keys: the fast paths (plain ASCII names) give what the general
/// rules give.
@Suite("Bridge protocol")
struct BridgeProtocolTests {
    /// The general rule, written out: upper-cased, every byte outside `A-Z 0-9 _ -` as `%XX`.
    static func referenceToken(_ text: String) -> String {
        var out = ""
        for byte in text.uppercased().utf8 {
            if (65...90).contains(byte) || (48...57).contains(byte) || byte == 95 || byte == 45 {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out.isEmpty ? "%" : out
    }

    @Test(arguments: ["WORKGROUP", "workgroup", "Mixed_Case-9", "a.b", "x*y", "x>y", "with space", "", "%", "é", "NETLOGON", "ü-ber", "\u{7F}"])
    func tokenIsUpperCasedAndEscaped(_ text: String) {
        #expect(BridgeProtocol.token(text) == Self.referenceToken(text))
        #expect(!BridgeProtocol.token(text).contains { ".*> ".contains($0) })
    }

    @Test func subjectsKeepEveryLevelApart() {
        #expect(BridgeProtocol.domainSubject(workgroup: "wg", mailslotName: #"\MAILSLOT\net\netlogon"#) == "mailslot.v1.domain.WG.NET.NETLOGON")
        #expect(BridgeProtocol.domainSubject(workgroup: "WG", mailslotName: #"\MAILSLOT\a.b"#) == "mailslot.v1.domain.WG.A%2EB")
    }

    static func message(_ mailslot: String, source: String = "HOSTA", ip: UInt32 = 0x0A00_0001, id: UInt16 = 7, data: [UInt8] = [1, 2, 3]) -> BridgedMessage {
        BridgedMessage(kind: .domain, workgroup: "WG", mailslotName: mailslot, sourceName: source, sourceIP: ip, datagramID: id,
                       site: "A", bridge: "A-1", data: data)
    }

    @Test func theKeyIsTheDatagramsAndIgnoresTheMailslotNamesCase() {
        for m in [Self.message(#"\MAILSLOT\browse"#), Self.message(#"\MAILSLOT\BROWSE"#, id: 0xFFFF), Self.message(#"\MAILSLOT\été"#),
                  Self.message(#"\MAILSLOT\x"#, source: "", ip: 0, id: 0, data: [])] {
            var other = m // what the other end rebuilds from the headers: equal fields, the same key
            other.site = "B"
            other.bridge = "B-1"
            other.workgroup = "OTHER"
            #expect(m.key == other.key, "\(m.mailslotName)")
        }
        #expect(Self.message(#"\MAILSLOT\browse"#).key == Self.message(#"\mailslot\BROWSE"#).key)
        #expect(Self.message(#"\MAILSLOT\été"#).key == Self.message(#"\MAILSLOT\ÉTÉ"#).key)
        // Every field counts, and bytes cannot move from one field to the next.
        let base = Self.message(#"\MAILSLOT\browse"#)
        #expect(Self.message(#"\MAILSLOT\browse"#, id: 8).key != base.key)
        #expect(Self.message(#"\MAILSLOT\browse"#, ip: 0x0A00_0002).key != base.key)
        #expect(Self.message(#"\MAILSLOT\browse"#, data: [1, 2, 4]).key != base.key)
        #expect(Self.message(#"\MAILSLOT\browse"#, source: "HOSTAB").key != Self.message(#"\MAILSLOT\browse"#, source: "HOSTA").key)
    }

    /// The next message of a stream takes only a new datagram id and data, each checked as a whole message's are.
    @Test func theNextMessageOfAStreamChecksItsIdAndData() throws {
        let first = Self.message(#"\MAILSLOT\browse"#, data: [1])
        var expected = first
        expected.datagramID = 65_535
        expected.data = [9, 9]
        #expect(try first.next(datagramID: "65535", data: [9, 9]) == expected)
        #expect(throws: BridgedMessage.Rejection.missingHeader) { try first.next(datagramID: nil, data: []) }
        for bad in ["65536", "-1", "x", "", "1 ", String(repeating: "0", count: 400)] {
            #expect(throws: BridgedMessage.Rejection.badHeader, "\(bad)") { try first.next(datagramID: bad, data: []) }
        }
        #expect(throws: BridgedMessage.Rejection.oversized) { try first.next(datagramID: "1", data: [UInt8](repeating: 0, count: BridgeProtocol.largestData + 1)) }
    }

    /// What a bridge checks before it publishes is what the other sites check when they receive: for each
    /// message, `check()` throws exactly when decoding its own headers does.
    @Test(arguments: ["WRITER", "A\r\nSITE:X", "PC\u{E9}", "TAB\tNAME", "", "SIXTEEN-LETTERS!", "DEL\u{7F}"])
    func aMessageIsPublishedOnlyWhenTheOtherSitesWouldTakeIt(sourceName: String) {
        for mailslot in [#"\MAILSLOT\ok"#, "\\MAILSLOT\\bell\u{7}", #"\MAILSLOT\"#] {
            let message = BridgedMessage(kind: .domain, workgroup: "WG", mailslotName: mailslot, sourceName: sourceName, sourceIP: 0x0A00_0001,
                                         datagramID: 9, site: "A", bridge: "HOSTA-1", data: [1, 2])
            let headers = Dictionary(message.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            func rejection(_ body: () throws(BridgedMessage.Rejection) -> Void) -> BridgedMessage.Rejection? {
                do throws(BridgedMessage.Rejection) { try body(); return nil } catch { return error }
            }
            let checked = rejection { () throws(BridgedMessage.Rejection) in try message.check() }
            let received = rejection { () throws(BridgedMessage.Rejection) in
                _ = try BridgedMessage(subject: message.subject, header: { headers[$0] }, data: message.data)
            }
            #expect(checked == received, "\(sourceName.debugDescription) \(mailslot.debugDescription)")
            #expect((checked == nil) == (sourceName == "WRITER" && mailslot == #"\MAILSLOT\ok"#))
        }
    }
}
