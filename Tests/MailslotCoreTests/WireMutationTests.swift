import MailslotCore
import MailslotTestSupport
import Testing

@Suite("Wire: deterministic random mutations never trap")
struct WireMutationTests {
    /// Offsets (within the SMB part) of the 16-bit fields that steer the decoder.
    static let interestingSMBFields = [33, 35, 37, 39, 51, 53, 55, 57, 61, 63, 65, 67]

    static func mutate(_ input: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        let operations = 1 + Int(rng.next() % 4)
        for _ in 0..<operations {
            switch rng.next() % 9 {
            case 0 where !bytes.isEmpty:  // overwrite a byte
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 1 where !bytes.isEmpty:  // flip a bit
                bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1) << (rng.next() % 8)
            case 2:  // truncate
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
            case 3:  // extend with random bytes
                for _ in 0..<Int(rng.next() % 64) { bytes.append(UInt8(truncatingIfNeeded: rng.next())) }
            case 4 where !bytes.isEmpty:  // delete a byte
                bytes.remove(at: Int(rng.next() % UInt64(bytes.count)))
            case 5:  // insert a byte
                bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(bytes.count + 1)))
            case 6:  // set a length/offset field of the SMB part to an extreme or random value
                let field = WireFixtures.smbStart + interestingSMBFields[Int(rng.next() % UInt64(interestingSMBFields.count))]
                if field + 1 < bytes.count {
                    let choices: [UInt16] = [0, 1, 0x7FFF, 0x8000, 0xFFFF, UInt16(truncatingIfNeeded: rng.next()),
                                             UInt16(truncatingIfNeeded: bytes.count - WireFixtures.smbStart)]
                    wirePutUInt16LE(choices[Int(rng.next() % UInt64(choices.count))], into: &bytes, at: field)
                }
            case 7 where bytes.count > 13:  // header: type, flags, DGM_LENGTH, PACKET_OFFSET
                let index = [0, 1, 10, 11, 12, 13][Int(rng.next() % 6)]
                bytes[index] = UInt8(truncatingIfNeeded: rng.next())
            default:  // zero a random byte (creates early NULs and empty names)
                if !bytes.isEmpty { bytes[Int(rng.next() % UInt64(bytes.count))] = 0 }
            }
        }
        return bytes
    }

    @Test("20,000 mutations of the vectors: decode succeeds with in-bounds data or throws")
    func mutations() throws {
        let seeds = try WireFixtures.nmbdVectors().map(\.bytes) + [try WireFixtures.workedExample()]
        var rng = SplitMix64(seed: 0x4D41_494C_534C_4F54)  // "MAILSLOT"
        var accepted = 0
        var reasons: [String: Int] = [:]
        for _ in 0..<20_000 {
            let input = Self.mutate(seeds[Int(rng.next() % UInt64(seeds.count))], using: &rng)
            do {
                let decoded = try decodeDatagram(input)
                _ = decoded.describe()
                if case .mailslot(let message) = decoded {
                    accepted += 1
                    let t = message.transaction
                    let start = message.datagram.userDataOffset + Int(t.dataOffset)
                    let end = start + Int(t.dataCount)
                    #expect(end <= input.count)
                    #expect(message.data.count == Int(t.dataCount))
                    if end <= input.count {
                        #expect(Array(input[start..<end]) == message.data)
                    }
                    #expect(message.encoded() == input)
                    #expect(message.mailslotName.uppercased().hasPrefix("\\MAILSLOT\\"))
                    #expect(message.header.flags.first && !message.header.flags.more)
                }
            } catch {
                reasons[error.reason, default: 0] += 1
                #expect(!error.description.isEmpty)
            }
            // The other decoders must not trap on the same bytes either.
            _ = try? NameQueryResponse.decode(input)
            _ = try? NameQueryRequest.decode(input)
            _ = try? NetBIOSDatagram.decode(input)
            if input.count > WireFixtures.smbStart {
                _ = try? MailslotTransaction.decode(smb: input[WireFixtures.smbStart...])
            }
        }
        // The mutator must exercise both outcomes and many different rejection reasons.
        #expect(accepted > 1_000)
        #expect(reasons.count >= 10, "\(reasons)")
    }

    @Test("random garbage of every small length never traps")
    func garbage() {
        var rng = SplitMix64(seed: 42)
        for length in 0..<300 {
            for _ in 0..<10 {
                var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if length > 0 { bytes[0] = 0x10 + UInt8(rng.next() % 7) }
                _ = try? decodeDatagram(bytes)
                _ = try? NameQueryResponse.decode(bytes)
                _ = try? HexText.parse(String(decoding: bytes, as: UTF8.self))
            }
        }
    }
}
