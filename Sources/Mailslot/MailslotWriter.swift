import Logging
import MailslotTransport

/// The client (writing) side of a mailslot. Any process that knows the name may open it (subject to the
/// server's access rule) and write; each write is one message.
///
/// ```swift
/// let writer = try MailslotWriter(opening: #"\\.\mailslot\app\events"#)
/// try writer.write("started")
/// ```
public final class MailslotWriter: Sendable {
    public struct Options: Sendable {
        /// How long a write waits for a mailslot that cannot take the message now (its quota is full or
        /// its server is not reading), in milliseconds; then it fails with ERROR_SEM_TIMEOUT. 0 fails at once.
        public var writeTimeoutMilliseconds: UInt32
        public var logger: Logger
        public init(writeTimeoutMilliseconds: UInt32 = MailslotLimits.defaultWriteTimeoutMilliseconds,
                    logger: Logger = Logger(label: "mailslot", factory: { _ in SwiftLogNoOpLogHandler() })) {
            self.writeTimeoutMilliseconds = writeTimeoutMilliseconds
            self.logger = logger
        }
    }

    public let name: MailslotName
    let local: LocalWriter

    /// Opens a mailslot for writing.
    ///
    /// - Throws: ERROR_FILE_NOT_FOUND (2) when no server serves a local name; ERROR_ACCESS_DENIED (5) when the
    ///   server's access rule refuses this user; ERROR_INVALID_NAME (123) for a malformed name.
    ///
    /// The corresponding Win32 function is `CreateFile` (with `OPEN_EXISTING`).
    public convenience init(opening name: String, options: Options = Options()) throws(MailslotError) {
        try self.init(opening: try MailslotName(parsing: name), options: options)
    }

    /// Opens a parsed mailslot name for writing. The corresponding Win32 function is `CreateFile`.
    public init(opening name: MailslotName, options: Options = Options()) throws(MailslotError) {
        guard name.isLocal else {
            throw MailslotError(.badNetPath, "\(name) is on another machine; writing to remote and domain mailslots is not available in this version")
        }
        self.name = name
        self.local = try LocalWriter.open(name, writeTimeoutMilliseconds: options.writeTimeoutMilliseconds, logger: options.logger)
    }

    /// The server's maximum message size (0 = any).
    public var maxMessageSize: UInt32 { local.greeting.maxMessageSize }
    /// The pid of the server process that accepted this writer.
    public var serverPID: Int32 { local.greeting.serverPID }

    /// Writes one message. A zero-length message is a real message.
    ///
    /// - Throws: ERROR_MESSAGE_EXCEEDS_MAX_SIZE (4336) above the server's maximum (nothing is sent);
    ///   ERROR_SEM_TIMEOUT (121) when the mailslot cannot take it within the write timeout;
    ///   ERROR_BROKEN_PIPE (109) when the server has closed the mailslot.
    ///
    /// The corresponding Win32 function is `WriteFile`.
    public func write(_ bytes: some Collection<UInt8>) throws(MailslotError) {
        try local.write(Array(bytes))
    }

    /// Writes a string's UTF-8 bytes as one message.
    public func write(_ text: String) throws(MailslotError) {
        try write(Array(text.utf8))
    }

    /// Writes the bytes of a buffer as one message.
    public func write(_ buffer: UnsafeRawBufferPointer) throws(MailslotError) {
        try local.write(buffer)
    }

    /// Closes the writer. Messages already written stay queued. The corresponding Win32 function is `CloseHandle`.
    public func close() { local.close() }
}
