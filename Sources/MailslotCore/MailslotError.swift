/// An error from a mailslot operation.
///
/// Every error carries the Win32 error code that Windows code would see from `GetLastError()` for the
/// same situation (``Code``), a message that says what happened and what to do about it, and, where
/// one exists, the underlying cause (for example a POSIX `errno`).
///
/// The shape follows SwiftNIO's `FileSystemError`: the code is an extensible struct rather than an enum,
/// so new codes can be added without breaking `switch` statements in user code.
public struct MailslotError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The Win32 error code, with its `ERROR_*` name.
    public var code: Code
    /// What happened and what to do about it.
    public var message: String
    /// The system-level cause, when there is one.
    public var cause: SystemCause?

    public init(_ code: Code, _ message: String, cause: SystemCause? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `error <code> <ERROR_NAME>: <message>`, the form the `mailslot` tool prints.
    public var description: String {
        var text = "error \(code.rawValue) \(code.name): \(message)"
        if let cause { text += " (\(cause))" }
        return text
    }

    /// A POSIX-level cause: the failing call and its `errno`.
    public struct SystemCause: Sendable, Hashable, CustomStringConvertible {
        public var call: String
        public var errno: Int32
        public var errnoDescription: String
        public init(call: String, errno: Int32, errnoDescription: String) {
            self.call = call
            self.errno = errno
            self.errnoDescription = errnoDescription
        }
        public var description: String { "\(call): \(errnoDescription) (errno \(errno))" }
    }
}

extension MailslotError {
    /// A Win32 error code.
    public struct Code: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// The `ERROR_*` name Windows headers use for this code.
        public var name: String { Self.names[rawValue] ?? "ERROR_\(rawValue)" }
        public var description: String { "\(rawValue) \(name)" }

        /// 2: the mailslot does not exist (no server serves this name).
        public static let fileNotFound = Code(rawValue: 2)
        /// 3: no name was given.
        public static let pathNotFound = Code(rawValue: 3)
        /// 4: this process has no file descriptor left for the connection or the ring (RLIMIT_NOFILE).
        public static let tooManyOpenFiles = Code(rawValue: 4)
        /// 5: the server's access rule refuses this writer, or the operation is not allowed on this handle.
        public static let accessDenied = Code(rawValue: 5)
        /// 6: the handle has been closed.
        public static let invalidHandle = Code(rawValue: 6)
        /// 8: memory could not be reserved for the mailslot.
        public static let notEnoughMemory = Code(rawValue: 8)
        /// 31: a system call failed in a way no other code describes; see the cause.
        public static let generalFailure = Code(rawValue: 31)
        /// 50: the operation is not supported on this kind of handle or name.
        public static let notSupported = Code(rawValue: 50)
        /// 53: a remote or domain write is larger than one datagram can carry, or the network path failed.
        public static let badNetPath = Code(rawValue: 53)
        /// 87: an argument is out of range.
        public static let invalidParameter = Code(rawValue: 87)
        /// 109: the mailslot's server closed it (or exited) while this writer was open.
        public static let brokenPipe = Code(rawValue: 109)
        /// 121: the timeout ran out: no message arrived for a read, or the mailslot could not take a write.
        public static let semTimeout = Code(rawValue: 121)
        /// 122: the read buffer is smaller than the next message; the message stays queued.
        public static let insufficientBuffer = Code(rawValue: 122)
        /// 123: the name is not a mailslot name, or is not allowed in this place.
        public static let invalidName = Code(rawValue: 123)
        /// 183: a mailslot of this name already exists.
        public static let alreadyExists = Code(rawValue: 183)
        /// 206: the name is longer than the longest name accepted.
        public static let filenameExceedsRange = Code(rawValue: 206)
        /// 995: the operation was cancelled (task cancellation, or the handle closed under it).
        public static let operationAborted = Code(rawValue: 995)
        /// 1450: the mailslot serves as many writers as it takes at once; close a writer and open again.
        public static let noSystemResources = Code(rawValue: 1450)
        /// 1816: the mailslot's memory quota cannot hold this message at all.
        public static let notEnoughQuota = Code(rawValue: 1816)
        /// 4336: the message is larger than the mailslot's maximum message size.
        public static let messageExceedsMaxSize = Code(rawValue: 4336)

        static let names: [UInt32: String] = [
            2: "ERROR_FILE_NOT_FOUND", 3: "ERROR_PATH_NOT_FOUND", 4: "ERROR_TOO_MANY_OPEN_FILES", 5: "ERROR_ACCESS_DENIED",
            6: "ERROR_INVALID_HANDLE", 8: "ERROR_NOT_ENOUGH_MEMORY", 31: "ERROR_GEN_FAILURE", 50: "ERROR_NOT_SUPPORTED",
            53: "ERROR_BAD_NETPATH", 87: "ERROR_INVALID_PARAMETER", 109: "ERROR_BROKEN_PIPE",
            121: "ERROR_SEM_TIMEOUT", 122: "ERROR_INSUFFICIENT_BUFFER", 123: "ERROR_INVALID_NAME",
            183: "ERROR_ALREADY_EXISTS", 206: "ERROR_FILENAME_EXCED_RANGE", 995: "ERROR_OPERATION_ABORTED", 1450: "ERROR_NO_SYSTEM_RESOURCES",
            1816: "ERROR_NOT_ENOUGH_QUOTA", 4336: "ERROR_MESSAGE_EXCEEDS_MAX_SIZE",
        ]
    }
}
