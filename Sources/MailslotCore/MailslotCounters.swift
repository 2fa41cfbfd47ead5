/// What one process's mailslot server has counted (``MailslotServer/counters`` in the public API).
public struct MailslotCounters: Sendable, Equatable {
    /// Writers whose credentials the access rule admitted.
    public var writersAccepted = 0
    /// Writers the access rule refused (ERROR_ACCESS_DENIED at their open).
    public var writersRefused = 0
    /// Messages moved from writers into the queue.
    public var messagesReceived = 0
    /// Writers dropped for breaking the ring's rules.
    public var protocolViolations = 0
    /// Writers refused because the mailslot already served as many as it takes (ERROR_NO_SYSTEM_RESOURCES).
    public var writersOverLimit = 0
    /// Times accepting a writer failed (out of descriptors); accepting pauses for a moment each time.
    public var acceptFailures = 0
    public init() {}
}

/// A mailslot on this machine as `mailslot list` shows it.
public struct MailslotDirectoryEntry: Sendable {
    /// The name as its creator wrote it.
    public var name: MailslotName
    /// Every process that holds the server handle (found through `/proc/PID/fd`; processes of other
    /// users are visible only to root).
    public var holderPIDs: [Int32]
    /// The uid that created it, as the kernel reports it (SO_PEERCRED), never the server's own claim.
    public var ownerUID: UInt32
    public var access: WriterAccess
    public var maxMessageSize: UInt32
    public var quota: UInt64
    /// Whether it takes messages from other machines (through mailslotd).
    public var allowsNetwork: Bool
    /// When it was created (CLOCK_REALTIME, nanoseconds since 1970).
    public var createdNanoseconds: UInt64
    public init(name: MailslotName, holderPIDs: [Int32], ownerUID: UInt32, access: WriterAccess, maxMessageSize: UInt32,
                quota: UInt64, allowsNetwork: Bool, createdNanoseconds: UInt64 = 0) {
        self.createdNanoseconds = createdNanoseconds
        self.name = name
        self.holderPIDs = holderPIDs
        self.ownerUID = ownerUID
        self.access = access
        self.maxMessageSize = maxMessageSize
        self.quota = quota
        self.allowsNetwork = allowsNetwork
    }
}
