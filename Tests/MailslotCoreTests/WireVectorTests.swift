import MailslotCore
import Testing

@Suite("Wire: captured nmbd vectors")
struct WireVectorTests {
    @Test("index.tsv lists 36 vectors, 35 good and 1 malformed")
    func inventory() throws {
        let vectors = try WireFixtures.nmbdVectors()
        #expect(vectors.count == 36)
        #expect(vectors.filter(\.isMalformed).count == 1)
        #expect(vectors.allSatisfy { !$0.bytes.isEmpty })
    }

    @Test("every good vector decodes to the fields in index.tsv", arguments: try WireFixtures.goodVectors())
    func decodesToIndexFields(vector: WireVector) throws {
        let message = try wireDecodeMailslot(vector.bytes)
        #expect(message.messageType.rawValue == vector.messageType)
        #expect(message.sourceName.description == vector.sourceName)
        #expect(message.destinationName.description == vector.destinationName)
        #expect(message.mailslotName == vector.mailslot)
        if let first = vector.firstDataByte {
            #expect(message.data.first == first)
        } else {
            #expect(!message.data.isEmpty)
        }
        // The header's SOURCE_IP / SOURCE_PORT match the capture's IP/UDP source.
        #expect(message.header.sourceIPString == vector.sourceIP)
        #expect(message.header.sourcePort == vector.sourcePort)
        // Data lies exactly at DataOffset within the received bytes.
        let t = message.transaction
        let start = WireFixtures.smbStart + Int(t.dataOffset)
        #expect(Array(vector.bytes[start..<(start + Int(t.dataCount))]) == message.data)
        #expect(Int(message.datagram.dgmLength) == vector.bytes.count - 14)
        #expect(message.header.flags.first && !message.header.flags.more)
        #expect(t.opcode == 1 && t.mailslotClass == 2)
    }

    @Test("every good vector round-trips: verbatim, field-wise, and through the builder",
          arguments: try WireFixtures.goodVectors())
    func roundTrips(vector: WireVector) throws {
        let message = try wireDecodeMailslot(vector.bytes)
        #expect(message.encoded() == vector.bytes)
        #expect(message.transaction.encoded() == message.datagram.userData)

        // Rebuild from scratch with the style these senders use.
        let t = message.transaction
        var style = MailslotWriteStyle.nmbd
        style.datagramFlags = message.header.flags
        style.parameterOffset = t.parameterOffset == 0 ? .zero : .sameAsDataOffset
        style.priority = t.priority
        let rebuilt = try NetBIOSMailslotDatagram(
            messageType: message.messageType, datagramID: message.header.datagramID,
            sourceIP: message.header.sourceIP, sourcePort: message.header.sourcePort,
            sourceName: message.sourceName, destinationName: message.destinationName,
            mailslotName: message.mailslotName, data: message.data, style: style)
        #expect(rebuilt.encoded() == vector.bytes)
    }

    @Test("nmbd's own frames are exactly the .nmbd style")
    func nmbdStyle() throws {
        for vector in try WireFixtures.goodVectors() where vector.origin == "nmbd" {
            let message = try wireDecodeMailslot(vector.bytes)
            let rebuilt = try NetBIOSMailslotDatagram(
                messageType: message.messageType, datagramID: message.header.datagramID,
                sourceIP: message.header.sourceIP, sourceName: message.sourceName,
                destinationName: message.destinationName, mailslotName: message.mailslotName,
                data: message.data, style: .nmbd)
            #expect(rebuilt.encoded() == vector.bytes, "\(vector.file)")
        }
    }

    @Test("f098 (DataCount 1024 in a short datagram) is rejected as data-out-of-bounds")
    func malformedRejected() throws {
        let malformed = try #require(try WireFixtures.nmbdVectors().first(where: \.isMalformed))
        #expect(malformed.file.hasPrefix("f098"))
        let error = try #require(wireDecodeError(malformed.bytes))
        #expect(error == .dataOutOfBounds(offset: 86, count: 1024, available: malformed.bytes.count - 82))
        #expect(error.reason == "data_out_of_bounds")
        #expect(error.description.contains("1024"))
        // The NetBIOS layer alone is fine: the names decode.
        let datagram = try NetBIOSDatagram.decode(malformed.bytes)
        #expect(datagram.sourceName.description == "BADPKT<00>")
        #expect(datagram.destinationName.description == "NMBDA<00>")
    }

    @Test("describe() of every good vector names every field")
    func describesVectors() throws {
        for vector in try WireFixtures.goodVectors() {
            let lines = try decodeDatagram(vector.bytes).describe()
            let text = lines.joined(separator: "\n")
            for label in ["MSG_TYPE", "FLAGS", "DGM_ID", "SOURCE_IP", "SOURCE_PORT", "DGM_LENGTH",
                          "PACKET_OFFSET", "SOURCE_NAME", "DESTINATION_NAME", "Status", "Flags2",
                          "PIDHigh", "SecurityFeatures", "TID", "PIDLow", "UID", "MID", "WordCount",
                          "TotalParameterCount", "TotalDataCount", "MaxParameterCount", "MaxDataCount",
                          "MaxSetupCount", "Timeout", "ParameterCount", "ParameterOffset", "DataCount",
                          "DataOffset", "SetupCount", "Setup[0] Opcode", "Setup[1] Priority",
                          "Setup[2] Class", "ByteCount", "MailslotName", "Data length"] {
                #expect(text.contains(label), "\(vector.file) lacks \(label)")
            }
            #expect(text.contains(vector.sourceName))
            #expect(text.contains(vector.destinationName))
        }
    }
}
