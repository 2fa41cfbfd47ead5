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
        /// Network settings for remote and domain names (computer name, workgroup, interfaces, ports);
        /// nil loads them from /etc/mailslot.conf and `MAILSLOT_*` variables when first needed.
        public var configuration: MailslotConfiguration?
        public init(writeTimeoutMilliseconds: UInt32 = MailslotLimits.defaultWriteTimeoutMilliseconds,
                    configuration: MailslotConfiguration? = nil,
                    logger: Logger = Logger(label: "mailslot", factory: { _ in SwiftLogNoOpLogHandler() })) {
            self.writeTimeoutMilliseconds = writeTimeoutMilliseconds
            self.configuration = configuration
            self.logger = logger
        }
    }

    public let name: MailslotName
    enum Path {
        case local(LocalWriter)
        case network(NetworkWriter)
    }
    let path: Path

    /// Opens a mailslot for writing.
    ///
    /// A local name (`\\.\mailslot\x`) connects to its server. A remote or domain name
    /// (`\\COMPUTER\mailslot\x`, `\\DOMAIN\mailslot\x`, `\\*\mailslot\x`) always opens, as on
    /// Windows: there is no handshake, and each write is one datagram.
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
        self.name = name
        if name.isLocal {
            path = .local(try LocalWriter.open(name, writeTimeoutMilliseconds: options.writeTimeoutMilliseconds, logger: options.logger))
        } else {
            let configuration: MailslotConfiguration
            if let given = options.configuration { configuration = given } else { configuration = try MailslotConfiguration.load() }
            path = .network(try NetworkWriter(name, configuration: configuration,
                                              writeTimeoutMilliseconds: options.writeTimeoutMilliseconds, logger: options.logger))
        }
    }

    /// The largest message a write accepts: the server's maximum for a local mailslot (0 = any), the
    /// one-datagram limit for a remote or domain one.
    public var maxMessageSize: UInt32 {
        switch path {
        case .local(let w): return w.greeting.maxMessageSize
        case .network(let w): return UInt32(w.dataLimit)
        }
    }

    /// The pid of the local server process that accepted this writer (nil for a remote name).
    public var serverPID: Int32? {
        if case .local(let w) = path { return w.greeting.serverPID }
        return nil
    }

    /// Where a remote or domain name's datagrams go (nil for a local name).
    public var destination: MailslotName.Destination? {
        if case .network(let w) = path { return w.destination }
        return nil
    }

    /// Writes one message. A zero-length message is a real message.
    ///
    /// - Throws: ERROR_MESSAGE_EXCEEDS_MAX_SIZE (4336) above the server's maximum (nothing is sent);
    ///   ERROR_SEM_TIMEOUT (121) when the mailslot cannot take it within the write timeout;
    ///   ERROR_BROKEN_PIPE (109) when the server has closed the mailslot.
    ///
    /// The corresponding Win32 function is `WriteFile`.
    public func write(_ bytes: some Collection<UInt8>) throws(MailslotError) {
        switch path {
        case .local(let w): try w.write(Array(bytes))
        case .network(let w): try w.write(Array(bytes))
        }
    }

    /// Writes a string's UTF-8 bytes as one message.
    public func write(_ text: String) throws(MailslotError) {
        try write(Array(text.utf8))
    }

    /// Writes the bytes of a buffer as one message.
    public func write(_ buffer: UnsafeRawBufferPointer) throws(MailslotError) {
        switch path {
        case .local(let w): try w.write(buffer)
        case .network(let w): try w.write(Array(buffer))
        }
    }

    /// Writes one message, waiting at most `timeoutMilliseconds` for room instead of the write timeout
    /// (0: fail with ERROR_SEM_TIMEOUT at once when the mailslot cannot take it now).
    package func write(_ buffer: UnsafeRawBufferPointer, timeoutMilliseconds: UInt32) throws(MailslotError) {
        switch path {
        case .local(let w): try w.write(buffer, timeoutMilliseconds: timeoutMilliseconds)
        case .network(let w): try w.write(Array(buffer))
        }
    }

    /// The mailslot's state as its server reports it now: maximum message size, next message size, message
    /// count and read timeout. Every message whose write returned before this call is counted.
    ///
    /// Windows 8 and later answer `GetMailslotInfo` on a client handle the same way (conformance W38).
    /// - Throws: ERROR_NOT_SUPPORTED (50) for a remote or domain name (no protocol carries the query),
    ///   ERROR_FILE_NOT_FOUND (2) when the server has gone.
    public func info() throws(MailslotError) -> MailslotInfo {
        guard case .local = path else {
            throw MailslotError(.notSupported, "\(name) is on another machine; only a local mailslot's state can be queried")
        }
        let greeting = try LocalWriter.query(name)
        let state = greeting.state! // query() checked it
        return MailslotInfo(maxMessageSize: greeting.maxMessageSize, nextMessageSize: state.nextMessageSize.map(Int.init),
                            messageCount: Int(state.messageCount), readTimeout: MailslotTimeout(rawValue: state.readTimeout),
                            queuedBytes: Int(state.queuedBytes), quota: Int(greeting.quota))
    }

    /// Closes the writer. Messages already written stay queued. The corresponding Win32 function is `CloseHandle`.
    public func close() {
        if case .local(let w) = path { w.close() }
    }
}
