import MailslotCore
import Testing

@Suite("Wire: NetBIOS name first-level encoding")
struct WireNameTests {
    @Test("HOSTA<00> and *<00> encode as in RFC 1001 §14 / spec §2.2")
    func knownEncodings() throws {
        let hostA = try NetBIOSName("HOSTA", suffix: 0x00)
        #expect(hostA.encodedLabel == "EIEPFDFEEBCACACACACACACACACACAAA")
        #expect(hostA.encoded().count == 34)
        #expect(hostA.encoded().first == 0x20 && hostA.encoded().last == 0x00)
        #expect(Array(hostA.encoded()[1..<33]) == Array("EIEPFDFEEBCACACACACACACACACACAAA".utf8))

        let wildcard = try NetBIOSName("*")
        #expect(wildcard.encodedLabel == "CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        #expect(wildcard.rawName == [0x2A] + [UInt8](repeating: 0, count: 14))
        #expect(wildcard.isWildcard)
        #expect(wildcard.name == "*")
        #expect(wildcard.description == "*<00>")
    }

    @Test("names are upper-cased, space padded to 15, and trimmed in `name`")
    func padding() throws {
        let name = try NetBIOSName("nmbda", suffix: 0x1D)
        #expect(name.rawName == Array("NMBDA".utf8) + [UInt8](repeating: 0x20, count: 10))
        #expect(name.name == "NMBDA")
        #expect(name.trimmedRawName == Array("NMBDA".utf8))
        #expect(name.rawBytes.count == 16 && name.rawBytes.last == 0x1D)
        #expect(name.description == "NMBDA<1d>")
        #expect(!name.isWildcard)
        #expect(try NetBIOSName("FIFTEENCHARSXYZ").rawName == Array("FIFTEENCHARSXYZ".utf8))
    }

    @Test("non-printable bytes print as <xx>, matching index.tsv")
    func msBrowse() throws {
        let raw: [UInt8] = [0x01, 0x02] + Array("__MSBROWSE__".utf8) + [0x02]
        let name = try NetBIOSName(rawName: raw, suffix: 0x01)
        #expect(name.description == "<01><02>__MSBROWSE__<02><01>")
        #expect(name.name == "\u{01}\u{02}__MSBROWSE__\u{02}")
        let fromText = try NetBIOSName("\u{01}\u{02}__MSBROWSE__\u{02}", suffix: 0x01)
        #expect(fromText == name)
        #expect(try NetBIOSName(encoded: name.encoded()) == name)
    }

    @Test("encode/decode round trip for many names and every suffix")
    func roundTrip() throws {
        for suffix in UInt8.min...UInt8.max {
            let name = try NetBIOSName("R\(suffix)", suffix: suffix)
            let decoded = try NetBIOSName(encoded: name.encoded())
            #expect(decoded == name)
            #expect(decoded.description == "R\(suffix)<\(suffix < 16 ? "0" : "")\(String(suffix, radix: 16))>")
        }
        let allBytes = try NetBIOSName(rawName: Array(0xF0...0xFE), suffix: 0xFF)
        #expect(try NetBIOSName(encoded: allBytes.encoded()) == allBytes)
    }

    @Test("scope labels round trip")
    func scope() throws {
        let name = try NetBIOSName("HOST", suffix: 0x20, scope: ["corp", "example"])
        let encoded = name.encoded()
        #expect(encoded.count == 34 + 5 + 8)
        #expect(name.encodedLength == encoded.count)
        #expect(Array(encoded[33...]) == [4] + Array("corp".utf8) + [7] + Array("example".utf8) + [0])
        let decoded = try NetBIOSName(encoded: encoded)
        #expect(decoded == name)
        #expect(decoded.scope == ["corp", "example"])
        #expect(decoded.description == "HOST<20>.corp.example")

        // A full datagram with scoped names decodes too (SMB then starts later).
        let message = try NetBIOSMailslotDatagram(
            datagramID: 3, sourceIP: 1, sourceName: name, destinationName: NetBIOSName("PEER", scope: ["corp"]),
            mailslotName: "\\MAILSLOT\\SCOPED", data: [1, 2])
        let back = try wireDecodeMailslot(message.encoded())
        #expect(back == message)
        #expect(back.datagram.userDataOffset == 14 + 47 + 39)
    }

    @Test("construction errors")
    func constructionErrors() {
        #expect(throws: NetBIOSNameError.emptyName) { _ = try NetBIOSName("") }
        #expect(throws: NetBIOSNameError.nameTooLong(length: 16)) { _ = try NetBIOSName("SIXTEENCHARSXYZW") }
        #expect(throws: NetBIOSNameError.invalidCharacter("名")) { _ = try NetBIOSName("名") }
        #expect(throws: NetBIOSNameError.rawNameWrongLength(3)) { _ = try NetBIOSName(rawName: [1, 2, 3], suffix: 0) }
        let long = String(repeating: "a", count: 64)
        #expect(throws: NetBIOSNameError.invalidScopeLabel(long)) { _ = try NetBIOSName("A", scope: [long]) }
        #expect(throws: NetBIOSNameError.invalidScopeLabel("")) { _ = try NetBIOSName("A", scope: [""]) }
        let label = String(repeating: "b", count: 63)
        #expect(throws: NetBIOSNameError.encodedNameTooLong(length: 34 + 4 * 64)) {
            _ = try NetBIOSName("A", scope: [label, label, label, label])
        }
        // 34 + 3 × 64 = 226 fits.
        #expect((try? NetBIOSName("A", scope: [label, label, label])) != nil)
        for error: NetBIOSNameError in [.emptyName, .nameTooLong(length: 16), .invalidCharacter("x"),
                                        .rawNameWrongLength(1), .invalidScopeLabel(""), .encodedNameTooLong(length: 300)] {
            #expect(!error.description.isEmpty)
        }
    }

    @Test("decoder validation: length byte, characters, pointers, labels, total length")
    func decodeErrors() throws {
        let good = try NetBIOSName("HOSTA").encoded()
        func decode(_ bytes: [UInt8]) -> NetBIOSNameDecodeError? {
            do {
                _ = try NetBIOSName(encoded: bytes)
                return nil
            } catch {
                return error
            }
        }
        #expect(decode(good) == nil)
        for length in 0..<good.count {
            #expect(decode(Array(good.prefix(length))) == .truncated, "length \(length)")
        }
        var badLength = good
        badLength[0] = 16
        #expect(decode(badLength) == .badLength(16))
        var pointer = good
        pointer[0] = 0xC0
        #expect(decode(pointer) == .compressionPointer)
        for char: UInt8 in [0x00, 0x40, 0x51, 0x61, 0xFF] {
            var bad = good
            bad[1 + 31] = char
            #expect(decode(bad) == .badCharacter(char))
        }
        var labelPointer = good
        labelPointer[33] = 0xC1
        #expect(decode(labelPointer + [0x0C]) == .compressionPointer)
        var label64 = good
        label64[33] = 64
        #expect(decode(label64) == .labelTooLong(64))
        var label191 = good
        label191[33] = 191
        #expect(decode(label191) == .labelTooLong(191))
        var truncatedLabel = Array(good.dropLast())
        truncatedLabel += [5, 0x61, 0x62]
        #expect(decode(truncatedLabel) == .truncated)
        // Four 63-byte labels: 33 + 4 × 64 + 1 = 290 > 255.
        var tooLong = Array(good.dropLast())
        for _ in 0..<4 { tooLong += [63] + [UInt8](repeating: 0x61, count: 63) }
        tooLong += [0]
        #expect(decode(tooLong) == .nameTooLong)
        #expect(decode(good + [0]) == .trailingBytes(1))
        for error: NetBIOSNameDecodeError in [.truncated, .badLength(1), .badCharacter(1), .compressionPointer,
                                              .labelTooLong(64), .nameTooLong, .trailingBytes(1)] {
            #expect(!error.description.isEmpty && !error.reason.isEmpty)
        }
        // decode(from:at:) reports the end offset.
        let (name, end) = try NetBIOSName.decode(from: [0xAA] + good + [0xBB], at: 1)
        #expect(name.description == "HOSTA<00>")
        #expect(end == 35)
        #expect(throws: NetBIOSNameDecodeError.truncated) { _ = try NetBIOSName.decode(from: good, at: -1) }
        #expect(throws: NetBIOSNameDecodeError.truncated) { _ = try NetBIOSName.decode(from: good, at: 34) }
    }
}
