import Foundation

/// One captured UDP/IPv4 packet.
struct UDPPacket: CustomStringConvertible {
    var sourceAddress: String
    var destinationAddress: String
    var sourcePort: UInt16
    var destinationPort: UInt16
    var payload: [UInt8]
    var description: String { "\(sourceAddress):\(sourcePort) -> \(destinationAddress):\(destinationPort) (\(payload.count) bytes)" }
}

/// A minimal pcap reader (the test's own, independent of the product): classic pcap files with Ethernet,
/// Linux cooked (SLL, SLL2) or raw-IP link types; returns the UDP/IPv4 packets.
enum Pcap {
    static func udpPackets(atPath path: String) throws -> [UDPPacket] {
        guard let data = FileManager.default.contents(atPath: path) else { throw HarnessError("cannot read \(path)") }
        return try udpPackets([UInt8](data))
    }

    static func udpPackets(_ bytes: [UInt8]) throws -> [UDPPacket] {
        guard bytes.count >= 24 else { throw HarnessError("pcap file too short (\(bytes.count) bytes)") }
        let magic = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let little: Bool
        switch magic {
        case 0xA1B2_C3D4, 0xA1B2_3C4D: little = true
        case 0xD4C3_B2A1, 0x4D3C_B2A1: little = false
        default: throw HarnessError(String(format: "not a classic pcap file (magic %08x)", magic))
        }
        func u32(_ at: Int) -> UInt32 {
            let b = bytes[at..<at + 4].map(UInt32.init)
            return little ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[3] | b[2] << 8 | b[1] << 16 | b[0] << 24
        }
        let linkType = u32(20)
        var packets: [UDPPacket] = []
        var offset = 24
        while offset + 16 <= bytes.count {
            let captured = Int(u32(offset + 8))
            let start = offset + 16
            guard start + captured <= bytes.count else { break } // a truncated last record
            let frame = Array(bytes[start..<start + captured])
            offset = start + captured
            let ipStart: Int?
            switch linkType {
            case 1: // Ethernet, possibly one VLAN tag
                if frame.count >= 14 && frame[12] == 0x08 && frame[13] == 0x00 { ipStart = 14 }
                else if frame.count >= 18 && frame[12] == 0x81 && frame[13] == 0x00 && frame[16] == 0x08 && frame[17] == 0x00 { ipStart = 18 }
                else { ipStart = nil }
            case 113: ipStart = frame.count >= 16 && frame[14] == 0x08 && frame[15] == 0x00 ? 16 : nil
            case 276: ipStart = frame.count >= 20 && frame[0] == 0x08 && frame[1] == 0x00 ? 20 : nil
            case 101, 228: ipStart = 0
            default: ipStart = nil
            }
            guard let ip = ipStart, frame.count >= ip + 20, frame[ip] >> 4 == 4, frame[ip + 9] == 17 else { continue }
            let headerLength = Int(frame[ip] & 0x0F) * 4
            let totalLength = Int(frame[ip + 2]) << 8 | Int(frame[ip + 3])
            let udp = ip + headerLength
            guard frame.count >= udp + 8 else { continue }
            let udpLength = Int(frame[udp + 4]) << 8 | Int(frame[udp + 5])
            let end = min(frame.count, ip + totalLength, udp + udpLength)
            guard end >= udp + 8 else { continue }
            func address(_ at: Int) -> String { frame[at..<at + 4].map(String.init).joined(separator: ".") }
            packets.append(UDPPacket(sourceAddress: address(ip + 12), destinationAddress: address(ip + 16),
                                     sourcePort: UInt16(frame[udp]) << 8 | UInt16(frame[udp + 1]),
                                     destinationPort: UInt16(frame[udp + 2]) << 8 | UInt16(frame[udp + 3]),
                                     payload: Array(frame[(udp + 8)..<end])))
        }
        return packets
    }
}

/// A NetBIOS name as the tests see it: the name without padding, and the suffix byte.
struct TestNetBIOSName: Equatable, CustomStringConvertible {
    var name: String
    var suffix: UInt8
    var description: String { "\(name)<\(String(format: "%02x", suffix))>" }
}

/// The test's own small decoders for NetBIOS datagrams and name-service packets (RFC 1001/1002, MS-MAIL),
/// written from the specification, to read captures without trusting the product's codec.
enum NetBIOSWire {
    /// Decodes a first-level-encoded name (length 0x20, 32 letters, scope labels, 0) at `offset`; a
    /// compression pointer (0xC0) is followed. Returns the name and the offset after it.
    static func name(_ bytes: [UInt8], at offset: Int) -> (TestNetBIOSName, Int)? {
        guard offset < bytes.count else { return nil }
        if bytes[offset] & 0xC0 == 0xC0 {
            guard offset + 1 < bytes.count else { return nil }
            let target = Int(bytes[offset] & 0x3F) << 8 | Int(bytes[offset + 1])
            guard target < offset, let (n, _) = name(bytes, at: target) else { return nil }
            return (n, offset + 2)
        }
        guard bytes[offset] == 0x20, offset + 33 < bytes.count else { return nil }
        var raw: [UInt8] = []
        for i in stride(from: offset + 1, to: offset + 33, by: 2) {
            let hi = bytes[i] &- 0x41, lo = bytes[i + 1] &- 0x41
            guard hi < 16, lo < 16 else { return nil }
            raw.append(hi << 4 | lo)
        }
        var next = offset + 33
        while next < bytes.count && bytes[next] != 0 { next += Int(bytes[next]) + 1 } // scope labels
        guard next < bytes.count else { return nil }
        var body = raw[0..<15]
        while let last = body.last, last == 0x20 || last == 0x00 { body.removeLast() }
        return (TestNetBIOSName(name: String(decoding: body, as: UTF8.self), suffix: raw[15]), next + 1)
    }

    struct Datagram {
        var type: UInt8
        var flags: UInt8
        var sourceIP: String
        var sourcePort: UInt16
        var source: TestNetBIOSName
        var destination: TestNetBIOSName
        var smbCommand: UInt8?
        var mailslotName: String?
        var data: [UInt8]?
    }

    /// A DIRECT_UNIQUE/DIRECT_GROUP/BROADCAST datagram and, when it carries one, the SMB mailslot write.
    static func datagram(_ p: [UInt8]) -> Datagram? {
        guard p.count >= 14, (0x10...0x12).contains(p[0]) else { return nil }
        guard let (source, afterSource) = name(p, at: 14), let (destination, smb) = name(p, at: afterSource) else { return nil }
        var d = Datagram(type: p[0], flags: p[1], sourceIP: p[4..<8].map(String.init).joined(separator: "."),
                         sourcePort: UInt16(p[8]) << 8 | UInt16(p[9]), source: source, destination: destination)
        guard p.count >= smb + 70, p[smb..<smb + 4].elementsEqual([0xFF, 0x53, 0x4D, 0x42]) else { return d }
        d.smbCommand = p[smb + 4]
        func le16(_ at: Int) -> Int { Int(p[at]) | Int(p[at + 1]) << 8 }
        let dataCount = le16(smb + 55), dataOffset = le16(smb + 57)
        if let nul = p[(smb + 69)...].firstIndex(of: 0) {
            d.mailslotName = String(decoding: p[(smb + 69)..<nul], as: UTF8.self)
        }
        if smb + dataOffset + dataCount <= p.count {
            d.data = Array(p[(smb + dataOffset)..<(smb + dataOffset + dataCount)])
        }
        return d
    }

    struct NameServicePacket {
        var transactionID: UInt16
        var isResponse: Bool
        var opcode: UInt8
        var isBroadcast: Bool
        var rcode: UInt8
        var question: TestNetBIOSName?
        var answer: TestNetBIOSName?
        var answerAddresses: [String] = []
    }

    /// A NetBIOS name-service packet (UDP 137): the question of a query, the first answer of a response.
    static func nameService(_ p: [UInt8]) -> NameServicePacket? {
        guard p.count >= 12 else { return nil }
        let flags = UInt16(p[2]) << 8 | UInt16(p[3])
        var packet = NameServicePacket(transactionID: UInt16(p[0]) << 8 | UInt16(p[1]), isResponse: flags & 0x8000 != 0,
                                       opcode: UInt8((flags >> 11) & 0x0F), isBroadcast: flags & 0x0010 != 0,
                                       rcode: UInt8(flags & 0x000F))
        let questions = Int(p[4]) << 8 | Int(p[5]), answers = Int(p[6]) << 8 | Int(p[7])
        var offset = 12
        if questions > 0 {
            guard let (q, next) = name(p, at: offset) else { return packet }
            packet.question = q
            offset = next + 4 // type, class
        }
        if answers > 0 {
            guard let (a, next) = name(p, at: offset), next + 10 <= p.count else { return packet }
            packet.answer = a
            let length = Int(p[next + 8]) << 8 | Int(p[next + 9])
            let rdata = next + 10
            guard rdata + length <= p.count else { return packet }
            for entry in stride(from: rdata, to: rdata + length - 5, by: 6) {
                packet.answerAddresses.append(p[(entry + 2)..<(entry + 6)].map(String.init).joined(separator: "."))
            }
        }
        return packet
    }
}

extension Array where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }

    init?(hex: String) {
        let digits = hex.filter { !$0.isWhitespace }
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = digits.startIndex
        while i < digits.endIndex {
            let j = digits.index(i, offsetBy: 2)
            guard let b = UInt8(digits[i..<j], radix: 16) else { return nil }
            out.append(b)
            i = j
        }
        self = out
    }
}
