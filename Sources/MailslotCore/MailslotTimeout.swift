/// A mailslot read timeout, in Win32 terms: 0 means "don't wait", `MAILSLOT_WAIT_FOREVER`
/// (`0xFFFFFFFF`) means "wait forever", anything else is a number of milliseconds.
public struct MailslotTimeout: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
    /// The Win32 value, as `CreateMailslot` and `GetMailslotInfo` use it.
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Don't wait: a read of an empty mailslot fails at once with ERROR_SEM_TIMEOUT.
    public static let immediate = MailslotTimeout(rawValue: 0)
    /// `MAILSLOT_WAIT_FOREVER`: a read waits until a message arrives.
    public static let forever = MailslotTimeout(rawValue: UInt32.max)
    /// Wait up to `ms` milliseconds (`0xFFFFFFFF` is ``forever``).
    public static func milliseconds(_ ms: UInt32) -> MailslotTimeout { MailslotTimeout(rawValue: ms) }

    public var isForever: Bool { rawValue == UInt32.max }

    /// The wait in milliseconds, or `nil` for forever.
    public var milliseconds: UInt32? { isForever ? nil : rawValue }

    public var description: String {
        switch rawValue {
        case 0: return "0 (don't wait)"
        case UInt32.max: return "forever"
        default: return "\(rawValue) ms"
        }
    }
}

/// What `GetMailslotInfo` reports.
public struct MailslotInfo: Sendable, Hashable {
    /// The largest message the mailslot accepts, as given at creation; 0 means any size (up to
    /// ``MailslotLimits/largestMessage`` and the quota).
    public var maxMessageSize: UInt32
    /// The size of the next message, or `nil` when the mailslot is empty (Win32: `MAILSLOT_NO_MESSAGE`).
    /// A queued zero-length message reports 0.
    public var nextMessageSize: Int?
    /// How many messages are waiting.
    public var messageCount: Int
    /// The current read timeout.
    public var readTimeout: MailslotTimeout
    /// How many bytes of the quota the waiting messages use (including per-message bookkeeping).
    public var queuedBytes: Int
    /// The memory quota for waiting messages, in bytes.
    public var quota: Int

    public init(maxMessageSize: UInt32, nextMessageSize: Int?, messageCount: Int, readTimeout: MailslotTimeout,
                queuedBytes: Int, quota: Int) {
        self.maxMessageSize = maxMessageSize
        self.nextMessageSize = nextMessageSize
        self.messageCount = messageCount
        self.readTimeout = readTimeout
        self.queuedBytes = queuedBytes
        self.quota = quota
    }

    /// `MAILSLOT_NO_MESSAGE`.
    public static let noMessage: UInt32 = UInt32.max

    /// The next message size as `GetMailslotInfo` reports it: `MAILSLOT_NO_MESSAGE` when empty.
    public var win32NextMessageSize: UInt32 {
        guard let nextMessageSize else { return Self.noMessage }
        return UInt32(clamping: nextMessageSize)
    }
}

/// Fixed limits of this implementation (documented in the README).
public enum MailslotLimits {
    /// The longest name after `\\.\mailslot\`, in UTF-16 code units: the whole Win32 name must stay
    /// under MAX_PATH (260), as on Windows. Longer names fail with ERROR_FILENAME_EXCED_RANGE (206).
    public static let longestName = 246
    /// The largest single message on this machine: 64 MiB. Larger writes fail with
    /// ERROR_MESSAGE_EXCEEDS_MAX_SIZE (4336) and nothing is delivered.
    public static let largestMessage = 64 << 20
    /// The default memory quota of a mailslot: 64 MiB of waiting messages.
    public static let defaultQuota = 64 << 20
    /// The smallest quota accepted.
    public static let smallestQuota = 64 << 10
    /// The largest quota accepted: 16 GiB.
    public static let largestQuota = 16 << 30
    /// Bytes of bookkeeping per queued message that count against the quota (the record header; records
    /// are also padded to 8 bytes).
    public static let perMessageOverhead = 8
    /// The largest message a mailslot with this maximum (0 = any) and quota takes: the 8-byte record
    /// header counts against the quota. Writers check the same bounds one by one, to say which was hit.
    public static func largestAccepted(maxMessageSize: UInt32, quota: Int) -> Int {
        var limit = min(largestMessage, quota - perMessageOverhead)
        if maxMessageSize != 0 { limit = min(limit, Int(maxMessageSize)) }
        return limit
    }

    /// How long a write waits, by default, for a full mailslot to take the message: 5 s.
    public static let defaultWriteTimeoutMilliseconds: UInt32 = 5_000
}
