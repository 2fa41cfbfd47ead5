import MailslotCore
import Testing

@Suite("Wire: remote size limit (MS-MAIL <2>)")
struct WireLimitsTests {
    @Test("432 − roundup4(name length)", arguments: [
        (1, 428), (2, 428), (3, 428), (4, 428),
        (5, 424), (6, 424), (7, 424), (8, 424),
        (9, 420), (12, 420),
        (13, 416), (16, 416),
        (17, 412), (100, 332),
    ])
    func formula(length: Int, limit: Int) throws {
        let name = "\\MAILSLOT\\" + String(repeating: "x", count: length)
        #expect(remoteDataLimit(forMailslotName: name) == limit)
        #expect(MailslotWireLimits.remoteDataLimit(forMailslotName: name) == limit)
        // The limit fills the 512-byte SMB budget exactly with Windows padding.
        let t = try MailslotTransaction(mailslotName: name, data: [UInt8](repeating: 0x55, count: limit))
        #expect(t.encodedLength == MailslotWireLimits.maximumSMBMessageLength)
        #expect(t.encoded().count == 512)
        #expect(throws: Never.self) { try MailslotWireLimits.checkRemoteWrite(byteCount: limit, mailslotName: name) }
        #expect(throws: MailslotWireSizeError.dataTooLarge(byteCount: limit + 1, limit: limit)) {
            try MailslotWireLimits.checkRemoteWrite(byteCount: limit + 1, mailslotName: name)
        }
    }

    @Test("name forms: prefix case, path levels, Win32 \\\\server\\ forms, bare names")
    func nameForms() {
        #expect(remoteDataLimit(forMailslotName: "\\mailslot\\net\\netlogon") == 420)  // 12 chars
        #expect(remoteDataLimit(forMailslotName: "\\MAILSLOT\\NET\\NETLOGON") == 420)
        #expect(remoteDataLimit(forMailslotName: "\\MailSlot\\BROWSE") == 424)  // 6 chars
        #expect(remoteDataLimit(forMailslotName: "\\\\*\\mailslot\\abcde") == 424)
        #expect(remoteDataLimit(forMailslotName: "\\\\DOMAIN\\mailslot\\abc\\def\\ghi") == 420)  // 11
        #expect(remoteDataLimit(forMailslotName: "\\\\.\\mailslot\\a") == 428)
        #expect(remoteDataLimit(forMailslotName: "TEST") == 428)
        #expect(remoteDataLimit(forMailslotName: "\\MAILSLOT\\TEST") == 428)
        #expect(MailslotWireLimits.nameLengthForLimit("\\\\HOST\\mailslot\\x\\y") == 3)
    }

    @Test("constants")
    func constants() throws {
        #expect(MailslotWireLimits.maximumSMBMessageLength == 512)
        #expect(MailslotWireLimits.maximumNameAndDataLength == 443)
        #expect(MailslotWireLimits.maximumEncodedUDPPayloadLength == 594)
        #expect(MailslotWireLimits.oversizeWin32ErrorCode == 53)
        // A maximal write to a 5-8 character name is exactly the maximum UDP payload.
        let message = try NetBIOSMailslotDatagram(
            datagramID: 1, sourceIP: 1, sourceName: NetBIOSName("A"), destinationName: NetBIOSName("B"),
            mailslotName: "\\MAILSLOT\\BROWSE", data: [UInt8](repeating: 0, count: 424))
        #expect(message.encoded().count == MailslotWireLimits.maximumEncodedUDPPayloadLength)
        // MailslotName + Databytes + NUL/padding never exceeds 443 at the limit.
        #expect(Int(message.transaction.byteCount) == 443)
    }

    @Test("absurdly long names: limit 0, and the check refuses even an empty write")
    func longNames() {
        let exact = "\\MAILSLOT\\" + String(repeating: "n", count: 432)
        #expect(remoteDataLimit(forMailslotName: exact) == 0)
        #expect(throws: Never.self) { try MailslotWireLimits.checkRemoteWrite(byteCount: 0, mailslotName: exact) }
        let tooLong = "\\MAILSLOT\\" + String(repeating: "n", count: 433)
        #expect(remoteDataLimit(forMailslotName: tooLong) == 0)
        #expect(throws: MailslotWireSizeError.nameTooLong(nameLength: 433)) {
            try MailslotWireLimits.checkRemoteWrite(byteCount: 0, mailslotName: tooLong)
        }
    }

    @Test("the error maps to ERROR_BAD_NETPATH")
    func errorCode() {
        let error = MailslotWireSizeError.dataTooLarge(byteCount: 425, limit: 424)
        #expect(error.win32ErrorCode == 53)
        #expect(MailslotWireSizeError.nameTooLong(nameLength: 500).win32ErrorCode == 53)
        #expect(error.description.contains("425") && error.description.contains("424"))
    }
}
