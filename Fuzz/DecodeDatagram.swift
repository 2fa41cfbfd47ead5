// libFuzzer entry point for the wire codec (Sources/MailslotCore/Wire/*.swift).
//
// Built by scripts/fuzz-codec.sh together with the codec sources into one module, so there is no
// `import MailslotCore`. Besides "never trap", it checks the decoder's invariants and stops with
// fatalError (which libFuzzer reports as a crash) when one is violated.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes: [UInt8] = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    fuzzDatagram(bytes)
    fuzzNameService(bytes)
    fuzzText(bytes)
    return 0
}

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

private func fuzzDatagram(_ bytes: [UInt8]) {
    do {
        let decoded = try decodeDatagram(bytes)
        check(!decoded.describe(maxPreviewBytes: 64).isEmpty, "empty description")
        guard case .mailslot(let message) = decoded else { return }
        let t = message.transaction

        // Data lies inside the received bytes, exactly at DataOffset.
        let start = message.datagram.userDataOffset + Int(t.dataOffset)
        let end = start + Int(t.dataCount)
        check(end <= bytes.count, "data beyond input")
        check(t.data.count == Int(t.dataCount), "data count")
        check(Array(bytes[start..<end]) == t.data, "data not at DataOffset")
        check(t.dataCount == 0 || Int(t.dataOffset) >= t.nameEnd, "data overlaps name")

        // Header invariants.
        check(message.header.flags.first && !message.header.flags.more, "fragment accepted")
        check(message.datagram.packetOffset == 0, "packet offset accepted")
        check(message.header.messageType.carriesUserData, "non-data type as mailslot")

        // Verbatim re-encoding and field-wise re-encoding.
        check(message.encoded() == bytes, "verbatim round trip")
        let reencoded = t.encoded()
        check(reencoded.count == t.encodedLength, "encodedLength")
        do {
            check(try MailslotTransaction.decode(smb: reencoded) == t, "field-wise round trip")
        } catch {
            check(false, "re-encoded transaction rejected: \(error)")
        }

        // Names re-encode to what was received.
        let names = message.sourceName.encoded() + message.destinationName.encoded()
        check(Array(bytes[14..<(14 + names.count)]) == names, "name round trip")

        // The builder accepts every decoded name and produces a decodable frame (as long as the
        // Windows layout, up to 3 bytes longer, still fits the 16-bit length fields).
        let rebuiltLength = names.count + t.nameEnd + 3 + message.data.count
        do {
            let rebuilt = try NetBIOSMailslotDatagram(
                messageType: message.messageType, datagramID: message.header.datagramID,
                sourceIP: message.header.sourceIP, sourcePort: message.header.sourcePort,
                sourceName: message.sourceName, destinationName: message.destinationName,
                mailslotName: message.mailslotName, data: message.data, style: .windows)
            let again = try NetBIOSMailslotDatagram.decode(rebuilt.encoded())
            check(again.data == message.data, "rebuilt data")
            check(again.destinationName == message.destinationName, "rebuilt name")
            check(again.transaction.dataOffset % 4 == 0, "rebuilt alignment")
        } catch {
            check(rebuiltLength > Int(UInt16.max), "builder or decoder refused a rebuilt frame: \(error)")
        }

        _ = MailslotWireLimits.remoteDataLimit(forMailslotName: message.mailslotName)
        _ = try? MailslotWireLimits.checkRemoteWrite(byteCount: message.data.count, mailslotName: message.mailslotName)
    } catch {
        check(!error.reason.isEmpty && !error.description.isEmpty, "error text")
    }
    _ = try? NetBIOSDatagram.decode(bytes)
    if bytes.count > 82 {
        _ = try? MailslotTransaction.decode(smb: bytes[82...])
    }
}

private func fuzzNameService(_ bytes: [UInt8]) {
    do {
        let response = try NameQueryResponse.decode(bytes)
        check(!response.entries.isEmpty, "response without entries")
        check(!response.describe().isEmpty, "empty description")
        let request = NameQueryRequest(transactionID: response.transactionID, name: response.answerName)
        check((try? NameQueryResponse.decode(bytes, matching: request)) == response, "matching")
        check((try? NameQueryResponse.decode(response.encoded())) == response, "response round trip")
    } catch {
        check(!error.reason.isEmpty, "error text")
    }
    if let request = try? NameQueryRequest.decode(bytes) {
        check((try? NameQueryRequest.decode(request.encoded())) == request, "request round trip")
    }
    if let (name, end) = try? NetBIOSName.decode(from: bytes, at: 0) {
        check(end <= bytes.count, "name end")
        check(Array(bytes[0..<end]) == name.encoded(), "name encoding")
        _ = name.description
    }
}

private func fuzzText(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    if let parsed = try? HexText.parse(text) {
        check(parsed.count <= bytes.count / 2, "hex length")
        check((try? HexText.parse(HexText.string(from: parsed))) == parsed, "hex round trip")
    }
    _ = HexText.dumpLines(bytes.prefix(64))
    _ = try? NetBIOSName(text.count <= 15 ? text : String(text.prefix(15)), suffix: bytes.first ?? 0)
}
