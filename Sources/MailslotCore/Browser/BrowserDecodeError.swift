/// Why the data of a `\MAILSLOT\BROWSE` or `\MAILSLOT\LANMAN` message is not a browser frame.
/// Each case has a human-readable ``description`` and a stable snake_case ``reason`` suitable as a
/// counter key (`mailslot browse --json` counts ignored frames by it).
public enum BrowserDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The message is empty: not even an opcode.
    case emptyFrame
    /// The first byte is not one of the opcodes [MS-BRWS] 2.2 defines.
    case unknownOpcode(UInt8)
    /// The frame ends before a fixed field of this opcode.
    case truncated(BrowserOpcode, needed: Int, available: Int)
    /// A NUL-terminated string runs to the end of the frame without its NUL.
    case stringNotTerminated(field: String)
    /// A name is longer than the 15 characters (16 bytes with the NUL) a NetBIOS name can have.
    case nameTooLong(field: String, length: Int)
    /// GetBackupListResponse: fewer names than BackupServerCount says.
    case backupListTruncated(declared: Int, found: Int)
    /// The mailslot is neither `\MAILSLOT\BROWSE` nor `\MAILSLOT\LANMAN`.
    case notBrowserMailslot(String)

    /// A stable short identifier of the case (snake_case), e.g. `string_not_terminated`.
    public var reason: String {
        switch self {
        case .emptyFrame: "empty_frame"
        case .unknownOpcode: "unknown_opcode"
        case .truncated: "truncated"
        case .stringNotTerminated: "string_not_terminated"
        case .nameTooLong: "name_too_long"
        case .backupListTruncated: "backup_list_truncated"
        case .notBrowserMailslot: "not_browser_mailslot"
        }
    }

    public var description: String {
        switch self {
        case .emptyFrame:
            "empty browser frame: no opcode byte"
        case .unknownOpcode(let opcode):
            "unknown browser opcode \(WireBytes.hex8(opcode)) (known: 0x01, 0x02, 0x08-0x0f)"
        case .truncated(let opcode, let needed, let available):
            "truncated \(opcode) frame: need \(needed) bytes, got \(available)"
        case .stringNotTerminated(let field):
            "browser frame field \(field) is not NUL-terminated within the frame"
        case .nameTooLong(let field, let length):
            "browser frame field \(field) is \(length) bytes long; a NetBIOS name has at most 15"
        case .backupListTruncated(let declared, let found):
            "GetBackupListResponse declares \(declared) backup server(s) but carries \(found)"
        case .notBrowserMailslot(let name):
            "mailslot \(name.debugDescription) does not carry browser frames (only \\MAILSLOT\\BROWSE and \\MAILSLOT\\LANMAN do)"
        }
    }
}
