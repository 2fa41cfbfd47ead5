import MailslotCore
import Testing

@Suite("Wire: NetBIOS name query (UDP 137)")
struct WireNameQueryTests {
    /// HOSTB<00> first-level encoded, computed by hand: H=48→EI O=4F→EP S=53→FD T=54→FE B=42→EC,
    /// ten spaces 20→CA, suffix 00→AA; as hex of the ASCII letters.
    static let hostBEncodedHex =
        "20" + "4549" + "4550" + "4644" + "4645" + "4543"
        + String(repeating: "4341", count: 10) + "4141" + "00"

    static func hostB() throws -> NetBIOSName { try NetBIOSName("HOSTB") }

    @Test("broadcast NAME QUERY REQUEST bytes")
    func encodeRequest() throws {
        let request = NameQueryRequest(transactionID: 0x1234, name: try Self.hostB())
        let expected =
            "1234" + "0110" + "0001" + "0000" + "0000" + "0000"
            + Self.hostBEncodedHex + "0020" + "0001"
        #expect(HexText.string(from: request.encoded()) == expected)
        #expect(request.encoded().count == 50)
        #expect(request.isBroadcast)
        #expect(request.flags == 0x0110)
        let unicast = NameQueryRequest(transactionID: 1, name: try Self.hostB(), broadcast: false)
        #expect(unicast.flags == 0x0100 && !unicast.isBroadcast)
        #expect(try NameQueryRequest.decode(request.encoded()) == request)
        #expect(NameQueryRequest.nameServicePort == 137)
    }

    /// Positive response without question section, answer name in full, one address 10.99.0.2.
    static func plainResponseHex() -> String {
        "1234" + "8500" + "0000" + "0001" + "0000" + "0000"
            + hostBEncodedHex + "0020" + "0001" + "000493e0" + "0006" + "0000" + "0a630002"
    }

    /// Positive response echoing the question and pointing to it with 0xC00C; two entries.
    static func pointerResponseHex() -> String {
        "4321" + "8580" + "0001" + "0001" + "0000" + "0000"
            + hostBEncodedHex + "0020" + "0001"
            + "c00c" + "0020" + "0001" + "0000012c" + "000c" + "6000" + "0a630002" + "8000" + "c0a80114"
    }

    @Test("positive response with the answer name in full")
    func decodePlain() throws {
        let bytes = try HexText.parse(Self.plainResponseHex())
        let response = try NameQueryResponse.decode(bytes)
        #expect(response.transactionID == 0x1234)
        #expect(response.flags == 0x8500)
        #expect(response.answerName == (try Self.hostB()))
        #expect(response.ttl == 300_000)
        #expect(response.addresses == [0x0A63_0002])
        #expect(response.entries.first?.addressString == "10.99.0.2")
        #expect(response.entries.first?.isGroup == false)
        #expect(response.entries.first?.ownerNodeType == .b)
        #expect(response.encoded() == bytes)
        let request = NameQueryRequest(transactionID: 0x1234, name: try Self.hostB())
        #expect(try NameQueryResponse.decode(bytes, matching: request) == response)
        #expect(response.describe().contains { $0.contains("10.99.0.2") })
    }

    @Test("positive response whose answer name is a compression pointer to the question")
    func decodePointer() throws {
        let bytes = try HexText.parse(Self.pointerResponseHex())
        let response = try NameQueryResponse.decode(bytes)
        #expect(response.transactionID == 0x4321)
        #expect(response.answerName.description == "HOSTB<00>")
        #expect(response.ttl == 300)
        #expect(response.addresses == [0x0A63_0002, 0xC0A8_0114])
        #expect(response.entries[0].ownerNodeType == .h)
        #expect(response.entries[1].isGroup)
        #expect(response.entries[1].addressString == "192.168.1.20")
    }

    func error(_ hex: String, matching request: NameQueryRequest? = nil) -> NameQueryDecodeError? {
        do {
            let bytes = try HexText.parse(hex)
            _ = try NameQueryResponse.decode(bytes, matching: request)
            return nil
        } catch let error as NameQueryDecodeError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("malformed and negative responses are rejected with reasons")
    func rejections() throws {
        let plain = Self.plainResponseHex()
        func replacing(_ range: Range<Int>, with hex: String, in text: String = plain) -> String {
            var chars = Array(text)
            chars.replaceSubrange(range.lowerBound * 2..<range.upperBound * 2, with: Array(hex))
            return String(chars)
        }
        // Name record fields start at byte 46 (12 header + 34 name).
        #expect(error(replacing(2..<4, with: "0110")) == .notResponse)
        #expect(error(replacing(2..<4, with: "8503")) == .negativeResponse(rcode: 3))
        #expect(error(replacing(2..<4, with: "a800")) == .wrongOpcode(5))
        #expect(error(replacing(6..<8, with: "0000")) == .noAnswer)
        #expect(error(replacing(46..<48, with: "0021")) == .wrongRecordType(0x21))
        #expect(error(replacing(48..<50, with: "0003")) == .wrongRecordClass(3))
        #expect(error(replacing(54..<56, with: "0005")) == .badRDLength(5))
        #expect(error(replacing(54..<56, with: "0000")) == .badRDLength(0))
        #expect(error(replacing(54..<56, with: "000c")) == .truncated(needed: 68, available: 62))
        #expect(error(replacing(13..<14, with: "5a")) == .badName(.badCharacter(0x5A)))
        #expect(error(replacing(12..<13, with: "21")) == .badName(.badLength(0x21)))
        // A pointer at offset 12 pointing at itself (no question section) — loop refused.
        #expect(error("123485000000000100000000" + "c00c" + "00200001000493e0000600000a630002")
            == .badCompressionPointer(0xC00C))
        // A pointer into the header.
        #expect(error("123485000001000100000000" + Self.hostBEncodedHex + "00200001" + "c000"
            + "00200001000493e0000600000a630002") == .badCompressionPointer(0xC000))
        // A forward pointer.
        #expect(error("123485000001000100000000" + Self.hostBEncodedHex + "00200001" + "c0ff"
            + "00200001000493e0000600000a630002") == .badCompressionPointer(0xC0FF))
        // A pointer to a pointer.
        let pointerToPointer = "123485000002000100000000" + Self.hostBEncodedHex + "00200001"
            + "c00c" + "00200001" + "c032" + "00200001000493e0000600000a630002"
        #expect(error(pointerToPointer) == .badName(.compressionPointer))
        // Matching a request.
        let other = NameQueryRequest(transactionID: 0x9999, name: try Self.hostB())
        #expect(error(plain, matching: other) == .transactionIDMismatch(expected: 0x9999, actual: 0x1234))
        let otherName = NameQueryRequest(transactionID: 0x1234, name: try NetBIOSName("HOSTC"))
        #expect(error(plain, matching: otherName)
            == .nameMismatch(expected: try NetBIOSName("HOSTC"), actual: try Self.hostB()))
        // The transaction id is checked before RCODE, so stale negatives are not mistaken for ours.
        #expect(error(replacing(2..<4, with: "8503"), matching: other)
            == .transactionIDMismatch(expected: 0x9999, actual: 0x1234))
    }

    @Test("every truncation of a valid response throws")
    func truncations() throws {
        for hex in [Self.plainResponseHex(), Self.pointerResponseHex()] {
            let bytes = try HexText.parse(hex)
            for length in 0..<bytes.count {
                #expect(throws: NameQueryDecodeError.self) {
                    _ = try NameQueryResponse.decode(bytes.prefix(length))
                }
            }
        }
    }

    @Test("request decoder rejections")
    func requestRejections() throws {
        let request = NameQueryRequest(transactionID: 0x1234, name: try Self.hostB()).encoded()
        var response = request
        response[2] = 0x85
        #expect(throws: NameQueryDecodeError.notRequest) { _ = try NameQueryRequest.decode(response) }
        var noQuestion = request
        noQuestion[5] = 0
        #expect(throws: NameQueryDecodeError.noQuestion) { _ = try NameQueryRequest.decode(noQuestion) }
        var status = request
        status[47] = 0x21
        #expect(throws: NameQueryDecodeError.wrongRecordType(0x21)) { _ = try NameQueryRequest.decode(status) }
        var opcode = request
        opcode[2] = 0x29  // opcode 5 (registration)
        #expect(throws: NameQueryDecodeError.wrongOpcode(5)) { _ = try NameQueryRequest.decode(opcode) }
        var qclass = request
        qclass[49] = 0x02
        #expect(throws: NameQueryDecodeError.wrongRecordClass(2)) { _ = try NameQueryRequest.decode(qclass) }
        #expect(throws: NameQueryDecodeError.truncated(needed: 50, available: 49)) {
            _ = try NameQueryRequest.decode(request.dropLast())
        }
    }

    @Test("reasons are distinct")
    func reasons() throws {
        let name = try Self.hostB()
        let all: [NameQueryDecodeError] = [
            .truncated(needed: 1, available: 0), .notResponse, .notRequest, .wrongOpcode(1),
            .transactionIDMismatch(expected: 1, actual: 2), .negativeResponse(rcode: 3), .noAnswer,
            .noQuestion, .badName(.truncated), .badCompressionPointer(0xC00C), .wrongRecordType(0x21),
            .wrongRecordClass(2), .badRDLength(5), .nameMismatch(expected: name, actual: name),
        ]
        #expect(Set(all.map(\.reason)).count == all.count)
        #expect(all.allSatisfy { !$0.description.isEmpty })
    }
}
