import Foundation
import MailslotCore
import Testing

/// One row of Vectors/index.tsv together with the bytes of its hex file.
struct WireVector: Sendable, CustomStringConvertible {
    var file: String
    var sourceIP: String
    var sourcePort: UInt16
    var messageType: UInt8
    var sourceName: String
    var destinationName: String
    var mailslot: String
    var firstDataByte: UInt8?
    var origin: String
    var bytes: [UInt8]

    var isMalformed: Bool { file.contains("MALFORMED") }
    var description: String { file }
}

enum WireFixtures {
    /// The directory of copied vectors inside the test bundle.
    static func vectorsDirectory() throws -> URL {
        guard let url = Bundle.module.url(forResource: "Vectors", withExtension: nil) else {
            throw FixtureError.missing("Vectors")
        }
        return url
    }

    static func hexFile(_ name: String) throws -> [UInt8] {
        let url = try vectorsDirectory().appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        return try HexText.parse(text)
    }

    /// The worked example of the spec (§2.7): "Hello" to \MAILSLOT\TEST, HOSTA → HOSTB.
    static func workedExample() throws -> [UInt8] {
        try hexFile("worked-example-HOSTA-to-HOSTB-TEST.hex")
    }

    /// Every row of index.tsv with its bytes (36 rows, one of them malformed).
    static func nmbdVectors() throws -> [WireVector] {
        let url = try vectorsDirectory().appendingPathComponent("index.tsv")
        let text = try String(contentsOf: url, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard !lines.isEmpty else { throw FixtureError.missing("index.tsv rows") }
        let header = lines.removeFirst().split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        func column(_ name: String) throws -> Int {
            guard let index = header.firstIndex(of: name) else { throw FixtureError.missing("column \(name)") }
            return index
        }
        let fileColumn = try column("file")
        let srcColumn = try column("src")
        let sportColumn = try column("sport")
        let typeColumn = try column("nbdgm_type")
        let srcNameColumn = try column("src_name")
        let dstNameColumn = try column("dst_name")
        let mailslotColumn = try column("mailslot")
        let commandColumn = try column("browser_cmd")
        let originColumn = try column("origin")
        return try lines.map { line in
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard cells.count == header.count else { throw FixtureError.missing("cells in \(line)") }
            let command = cells[commandColumn]
            var firstByte: UInt8? = nil
            if !command.isEmpty {
                guard command.hasPrefix("0x"), let value = UInt8(command.dropFirst(2), radix: 16) else {
                    throw FixtureError.missing("browser_cmd \(command)")
                }
                firstByte = value
            }
            guard let type = UInt8(cells[typeColumn]), let port = UInt16(cells[sportColumn]) else {
                throw FixtureError.missing("numbers in \(line)")
            }
            return WireVector(
                file: cells[fileColumn], sourceIP: cells[srcColumn], sourcePort: port, messageType: type,
                sourceName: cells[srcNameColumn], destinationName: cells[dstNameColumn],
                mailslot: cells[mailslotColumn], firstDataByte: firstByte, origin: cells[originColumn],
                bytes: try hexFile(cells[fileColumn]))
        }
    }

    static func goodVectors() throws -> [WireVector] {
        try nmbdVectors().filter { !$0.isMalformed }
    }

    /// Offset of the SMB message in an unscoped datagram: 14 + 34 + 34.
    static let smbStart = 82

    enum FixtureError: Error, CustomStringConvertible {
        case missing(String)
        var description: String {
            switch self {
            case .missing(let what): "test fixture missing: \(what)"
            }
        }
    }
}

/// Decodes and returns the thrown error, or nil if decoding succeeded.
func wireDecodeError(_ bytes: [UInt8]) -> DatagramDecodeError? {
    do {
        _ = try decodeDatagram(bytes)
        return nil
    } catch {
        return error
    }
}

/// Decodes and expects a mailslot datagram.
func wireDecodeMailslot(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> NetBIOSMailslotDatagram {
    let decoded = try decodeDatagram(bytes)
    guard let message = decoded.mailslot else {
        Issue.record("expected a mailslot datagram, got \(decoded)", sourceLocation: sourceLocation)
        throw WireFixtures.FixtureError.missing("mailslot datagram")
    }
    return message
}

/// Little-endian 16-bit store into a byte array (test mutation helper).
func wirePutUInt16LE(_ value: UInt16, into bytes: inout [UInt8], at offset: Int) {
    bytes[offset] = UInt8(truncatingIfNeeded: value)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
}

