// Human-readable field listings for `mailslot decode HEX`.

private let wireFieldWidth = 22

private func wireField(_ name: String, _ value: String) -> String {
    "  " + WireBytes.padded(name, wireFieldWidth) + value
}

private func wireDecimalAndHex16(_ value: UInt16) -> String {
    "\(value) (\(WireBytes.hex16(value)))"
}

extension NetBIOSDatagramHeader {
    /// Lines for the common header fields.
    public func describe() -> [String] {
        [
            wireField("MSG_TYPE", "\(WireBytes.hex8(messageType.rawValue)) \(messageType)"),
            wireField("FLAGS", flags.description),
            wireField("DGM_ID", wireDecimalAndHex16(datagramID)),
            wireField("SOURCE_IP", "\(sourceIPString) (\(WireBytes.hex32(sourceIP)))"),
            wireField("SOURCE_PORT", "\(sourcePort)"),
        ]
    }
}

extension NetBIOSName {
    /// `HOSTA<00> (suffix 0x00, encoded EIEP…AA)`.
    var describedWithEncoding: String {
        let scopeText = scope.isEmpty ? "" : ", scope \(scope.joined(separator: "."))"
        return "\(description) (suffix \(WireBytes.hex8(suffix))\(scopeText), encoded \(encodedLabel))"
    }
}

extension MailslotTransaction {
    /// Lines for every SMB header field, transaction word, setup word, the name and the data
    /// (hex + ASCII preview of at most `maxPreviewBytes` bytes).
    public func describe(maxPreviewBytes: Int = 512) -> [String] {
        var lines: [String] = []
        lines.append("SMB header")
        lines.append(wireField("Protocol", "ff534d42 (\\xFFSMB)"))
        lines.append(wireField("Command", "\(WireBytes.hex8(MailslotTransaction.transactionCommand)) SMB_COM_TRANSACTION"))
        lines.append(wireField("Status", WireBytes.hex32(smbStatus)))
        lines.append(wireField("Flags", WireBytes.hex8(smbFlags)))
        lines.append(wireField("Flags2", WireBytes.hex16(smbFlags2)))
        lines.append(wireField("PIDHigh", wireDecimalAndHex16(pidHigh)))
        var security: [UInt8] = []
        WireBytes.appendUInt64LE(securityFeatures, to: &security)
        lines.append(wireField("SecurityFeatures", HexText.string(from: security)))
        lines.append(wireField("Reserved", WireBytes.hex16(smbReserved)))
        lines.append(wireField("TID", wireDecimalAndHex16(tid)))
        lines.append(wireField("PIDLow", wireDecimalAndHex16(pid)))
        lines.append(wireField("UID", wireDecimalAndHex16(uid)))
        lines.append(wireField("MID", wireDecimalAndHex16(mid)))
        lines.append("Transaction request")
        lines.append(wireField("WordCount", "\(MailslotTransaction.mailslotWordCount)"))
        lines.append(wireField("TotalParameterCount", "\(totalParameterCount)"))
        lines.append(wireField("TotalDataCount", "\(totalDataCount)"))
        lines.append(wireField("MaxParameterCount", "\(maxParameterCount)"))
        lines.append(wireField("MaxDataCount", "\(maxDataCount)"))
        lines.append(wireField("MaxSetupCount", "\(maxSetupCount)"))
        lines.append(wireField("Reserved1", WireBytes.hex8(reserved1)))
        var flagNames: [String] = []
        if transactionFlags & 0x0001 != 0 { flagNames.append("DISCONNECT_TID") }
        if transactionFlags & 0x0002 != 0 { flagNames.append("NO_RESPONSE") }
        if transactionFlags & ~0x0003 != 0 { flagNames.append("other bits") }
        let flagText = flagNames.isEmpty ? "" : " (" + flagNames.joined(separator: ", ") + ")"
        lines.append(wireField("Flags", WireBytes.hex16(transactionFlags) + flagText))
        lines.append(wireField("Timeout", "\(timeout) ms"))
        lines.append(wireField("Reserved2", WireBytes.hex16(reserved2)))
        lines.append(wireField("ParameterCount", "\(parameterCount)"))
        lines.append(wireField("ParameterOffset", "\(parameterOffset)"))
        lines.append(wireField("DataCount", "\(dataCount)"))
        lines.append(wireField("DataOffset", "\(dataOffset)"))
        lines.append(wireField("SetupCount", "\(MailslotTransaction.mailslotSetupCount)"))
        lines.append(wireField("Reserved3", WireBytes.hex8(reserved3)))
        lines.append(wireField("Setup[0] Opcode", "\(opcode) (TRANS_MAILSLOT_WRITE)"))
        lines.append(wireField("Setup[1] Priority", "\(priority)"))
        let classText = switch mailslotClass {
        case 1: " (reliable)"
        case 2: " (unreliable & broadcast)"
        default: " (unknown)"
        }
        lines.append(wireField("Setup[2] Class", "\(mailslotClass)\(classText)"))
        lines.append(wireField("ByteCount", "\(byteCount)"))
        lines.append("Mailslot")
        lines.append(wireField("MailslotName", mailslotName))
        lines.append(wireField("Padding", "\(paddingLength) byte(s)"))
        lines.append(wireField("Data length", "\(data.count) byte(s)"))
        let shown = data.prefix(max(0, maxPreviewBytes))
        for line in HexText.dumpLines(shown) {
            lines.append("    " + line)
        }
        if shown.count < data.count {
            lines.append("    ... \(data.count - shown.count) more byte(s)")
        }
        return lines
    }
}

extension NetBIOSMailslotDatagram {
    /// Lines for every field of the datagram: NetBIOS header, both names with suffix, SMB header,
    /// transaction words, setup words, mailslot name and data preview.
    public func describe(maxPreviewBytes: Int = 512) -> [String] {
        var lines: [String] = ["NetBIOS datagram"]
        lines += datagram.header.describe()
        let actual = datagram.computedDgmLength
        let lengthNote = Int(datagram.dgmLength) == actual ? "" : " (actual \(actual))"
        lines.append(wireField("DGM_LENGTH", "\(datagram.dgmLength)\(lengthNote)"))
        lines.append(wireField("PACKET_OFFSET", "\(datagram.packetOffset)"))
        lines.append(wireField("SOURCE_NAME", datagram.sourceName.describedWithEncoding))
        lines.append(wireField("DESTINATION_NAME", datagram.destinationName.describedWithEncoding))
        lines.append(wireField("USER_DATA", "\(datagram.userData.count) byte(s) at offset \(datagram.userDataOffset)"))
        lines += transaction.describe(maxPreviewBytes: maxPreviewBytes)
        let trailing = datagram.userData.count - transaction.encodedLength
        if trailing > 0 {
            lines.append(wireField("Trailing bytes", "\(trailing) byte(s) after the data (ignored)"))
        }
        lines += describeBrowserFrame()
        return lines
    }

    /// For `\MAILSLOT\BROWSE` and `\MAILSLOT\LANMAN`: the browser frame the data carries, field by field,
    /// or why it is not one. Nothing for other mailslots.
    func describeBrowserFrame() -> [String] {
        guard let mailslot = BrowserMailslot(mailslotName: transaction.mailslotName) else { return [] }
        do throws(BrowserDecodeError) {
            return try BrowserFrame.decode(transaction.data, mailslot: mailslot).describe(mailslot: mailslot)
        } catch {
            return ["Browser frame (\(mailslot))", wireField("Malformed", "\(error.reason): \(error)")]
        }
    }
}

extension NetBIOSDatagramErrorPacket {
    /// Lines for the header fields and the error code.
    public func describe() -> [String] {
        ["NetBIOS datagram"] + header.describe()
            + [wireField("ERROR_CODE", "\(WireBytes.hex8(errorCode)) \(errorCodeDescription)")]
    }
}

extension NetBIOSDatagramQueryPacket {
    /// Lines for the header fields and the destination name.
    public func describe() -> [String] {
        ["NetBIOS datagram"] + header.describe()
            + [wireField("DESTINATION_NAME", destinationName.describedWithEncoding)]
    }
}

extension DecodedDatagram {
    /// Lines for every field, whichever kind of packet this is.
    public func describe(maxPreviewBytes: Int = 512) -> [String] {
        switch self {
        case .mailslot(let message): message.describe(maxPreviewBytes: maxPreviewBytes)
        case .error(let packet): packet.describe()
        case .query(let packet): packet.describe()
        }
    }
}

extension NameQueryResponse {
    /// Lines for the decoded response.
    public func describe() -> [String] {
        var lines = [
            "NetBIOS name query response",
            wireField("NAME_TRN_ID", wireDecimalAndHex16(transactionID)),
            wireField("FLAGS", WireBytes.hex16(flags)),
            wireField("RR_NAME", answerName.describedWithEncoding),
            wireField("TTL", "\(ttl) s"),
        ]
        for (index, entry) in entries.enumerated() {
            let kind = entry.isGroup ? "group" : "unique"
            lines.append(wireField(
                "ADDR_ENTRY[\(index)]",
                "\(entry.addressString) (NB_FLAGS \(WireBytes.hex16(entry.nbFlags)), \(kind), ONT \(entry.ownerNodeType))"))
        }
        return lines
    }
}
