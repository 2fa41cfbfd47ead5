/// Size limits of remote (datagram) mailslot writes (MS-MAIL §2.1 and footnote <2>).
///
/// Windows caps the whole SMB mailslot write (header, transaction words, name, padding and data) at
/// 512 bytes, so the data limit is `432 − roundup4(n)` where `n` is the length of the name after the
/// `\mailslot\` prefix: 1–4 characters → 428, 5–8 → 424, 9–12 → 420, 13–16 → 416.
public enum MailslotWireLimits {
    /// Largest SMB mailslot write Windows sends or accepts over NetBIOS datagrams.
    public static let maximumSMBMessageLength = 512
    /// MS-MAIL §2.1: MailslotName + Databytes should not exceed 443 bytes (512 − 69).
    public static let maximumNameAndDataLength = 443
    /// Largest UDP payload a conforming write produces with unscoped names:
    /// 14-byte header + two 34-byte names + 512 = 594.
    public static let maximumEncodedUDPPayloadLength =
        NetBIOSDatagram.fixedHeaderLength + 2 * NetBIOSName.encodedLengthWithoutScope + maximumSMBMessageLength
    /// Class-2 messages are never limited below this many bytes (MS-MAIL §2.2.1).
    public static let minimumGuaranteedClass2Length = 360
    /// Win32 error the caller should report for an over-size remote write: ERROR_BAD_NETPATH.
    public static let oversizeWin32ErrorCode: UInt32 = 53

    /// The name part counted by the limit: the text after `\mailslot\` (case-insensitive). Accepts
    /// `\MAILSLOT\x`, Win32 forms `\\server\mailslot\x` / `\\.\mailslot\x`, or a bare `x`.
    /// Counted in single-byte characters (Unicode scalars), as sent on the wire.
    public static func nameLengthForLimit(_ mailslotName: String) -> Int {
        var scalars = Array(mailslotName.unicodeScalars)
        if scalars.count >= 2, scalars[0] == "\\", scalars[1] == "\\" {
            // Skip `\\server`.
            var index = 2
            while index < scalars.count && scalars[index] != "\\" { index += 1 }
            scalars = Array(scalars[index...])
        }
        let prefix = Array("\\mailslot\\".unicodeScalars)
        if scalars.count >= prefix.count {
            var matches = true
            for index in 0..<prefix.count {
                let value = scalars[index].value
                let lowered = (value >= 0x41 && value <= 0x5A) ? value + 0x20 : value
                if lowered != prefix[index].value {
                    matches = false
                    break
                }
            }
            if matches { return scalars.count - prefix.count }
        }
        return scalars.count
    }

    /// Largest message for a remote write to `mailslotName`: `432 − roundup4(n)`, never negative
    /// (a name so long that nothing fits gives 0; ``checkRemoteWrite(byteCount:mailslotName:)``
    /// then rejects even an empty message).
    public static func remoteDataLimit(forMailslotName mailslotName: String) -> Int {
        max(0, rawLimit(nameLength: nameLengthForLimit(mailslotName)))
    }

    static func rawLimit(nameLength: Int) -> Int {
        maximumSMBMessageLength - 80 - WireBytes.roundUp4(nameLength)
    }

    /// Throws if a remote write of `byteCount` bytes to `mailslotName` exceeds the limit. The caller
    /// maps the error to Win32 ERROR_BAD_NETPATH (53).
    public static func checkRemoteWrite(
        byteCount: Int, mailslotName: String
    ) throws(MailslotWireSizeError) {
        let length = nameLengthForLimit(mailslotName)
        let limit = rawLimit(nameLength: length)
        guard limit >= 0 else { throw .nameTooLong(nameLength: length) }
        guard byteCount <= limit else { throw .dataTooLarge(byteCount: byteCount, limit: limit) }
    }
}

/// Largest message for a remote write to `mailslotName`; see
/// ``MailslotWireLimits/remoteDataLimit(forMailslotName:)``.
public func remoteDataLimit(forMailslotName mailslotName: String) -> Int {
    MailslotWireLimits.remoteDataLimit(forMailslotName: mailslotName)
}

/// A remote mailslot write that is too large. Report it as ERROR_BAD_NETPATH (53).
public enum MailslotWireSizeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The message exceeds `432 − roundup4(name length)` bytes.
    case dataTooLarge(byteCount: Int, limit: Int)
    /// The mailslot name alone exceeds the 512-byte SMB budget.
    case nameTooLong(nameLength: Int)

    /// ERROR_BAD_NETPATH.
    public var win32ErrorCode: UInt32 { MailslotWireLimits.oversizeWin32ErrorCode }

    public var description: String {
        switch self {
        case .dataTooLarge(let count, let limit):
            "remote mailslot message of \(count) bytes exceeds the limit of \(limit) bytes"
        case .nameTooLong(let length):
            "mailslot name of \(length) characters leaves no room in a 512-byte remote write"
        }
    }
}
