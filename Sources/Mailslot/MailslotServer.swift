@_exported import MailslotCore
import Logging
import MailslotTransport

/// The server (reading) side of a mailslot: it owns the name, and only it, or a process it handed its
/// handle to, can read the messages.
///
/// ```swift
/// let server = try MailslotServer(name: #"\\.\mailslot\app\events"#, readTimeout: .milliseconds(1000))
/// for try await message in server.messages { print(String(decoding: message, as: UTF8.self)) }
/// ```
///
/// Closing the server (or the process ending, however it ends) deletes the mailslot and its unread
/// messages and frees the name at once, unless another process still holds the handle.
public final class MailslotServer: Sendable {
    /// Options for creating a mailslot beyond the Win32 parameters.
    public struct Options: Sendable {
        /// Who may open the mailslot for writing. Default: the creating user (and root).
        public var access: WriterAccess
        /// Whether messages from other machines may arrive, through `mailslotd`. Default: no. A mailslot
        /// that does not opt in gets nothing from the network, whoever runs the gateway (its datagrams are
        /// dropped and counted as `not_network_enabled`); one that does also admits the gateway's
        /// `mailslot` service user, whatever ``access`` says.
        public var allowNetwork: Bool
        /// The memory quota for waiting messages, in bytes. Default 64 MiB. When it is full, writers wait
        /// up to their write timeout and then fail; nothing is dropped.
        public var quota: Int
        /// Where the library logs (at debug and trace level only).
        public var logger: Logger
        /// The user ``WriterAccess/owner`` means, when a privileged process creates the mailslot on that
        /// user's behalf (the file system does); nil: this process's effective uid.
        package var ownerUID: UInt32?

        public init(access: WriterAccess = .owner, allowNetwork: Bool = false, quota: Int = MailslotLimits.defaultQuota,
                    logger: Logger = Logger(label: "mailslot", factory: { _ in SwiftLogNoOpLogHandler() })) {
            self.access = access
            self.allowNetwork = allowNetwork
            self.quota = quota
            self.logger = logger
        }
    }

    /// The mailslot's name.
    public let name: MailslotName
    let engine: LocalServerEngine

    /// Creates a mailslot.
    ///
    /// - Parameters:
    ///   - name: `\\.\mailslot\[path\]name`.
    ///   - maxMessageSize: the largest message writers may send; 0 means any size (up to
    ///     ``MailslotLimits/largestMessage`` and the quota). Stored and reported as given, like Windows.
    ///   - readTimeout: how long reads wait for a message: ``MailslotTimeout/immediate``, a number of
    ///     milliseconds, or ``MailslotTimeout/forever``.
    /// - Throws: ERROR_INVALID_NAME (123) for a name that is not a local mailslot name, ERROR_ALREADY_EXISTS (183)
    ///   when a mailslot of that name (in any case) exists.
    ///
    /// The corresponding Win32 function is `CreateMailslot`.
    public convenience init(name: String, maxMessageSize: UInt32 = 0, readTimeout: MailslotTimeout = .forever,
                            options: Options = Options()) throws(MailslotError) {
        try self.init(name: try MailslotName(parsing: name), maxMessageSize: maxMessageSize, readTimeout: readTimeout, options: options)
    }

    /// Creates a mailslot from a parsed name. The corresponding Win32 function is `CreateMailslot`.
    public init(name: MailslotName, maxMessageSize: UInt32 = 0, readTimeout: MailslotTimeout = .forever,
                options: Options = Options()) throws(MailslotError) {
        self.name = name
        self.engine = try LocalServerEngine.create(name: name, maxMessageSize: maxMessageSize, readTimeout: readTimeout,
                                                   access: options.access, allowNetwork: options.allowNetwork, quota: options.quota,
                                                   ownerUID: options.ownerUID ?? Sys.euid, logger: options.logger)
    }

    init(engine: LocalServerEngine) throws(MailslotError) {
        self.name = try MailslotName(local: engine.queue.path)
        self.engine = engine
    }

    deinit { engine.close() }

    /// Deletes the mailslot (in this process): the name is freed at once unless another process holds
    /// the handle; pending reads fail with ERROR_OPERATION_ABORTED; later calls fail with ERROR_INVALID_HANDLE.
    ///
    /// The corresponding Win32 function is `CloseHandle`.
    public func close() { engine.close() }

    public var isClosed: Bool { engine.isClosed }

    // MARK: reading

    /// Reads the oldest message, waiting up to the read timeout.
    ///
    /// - Parameter maxLength: the largest message the caller accepts; a larger one fails the read with
    ///   ERROR_INSUFFICIENT_BUFFER (122) and stays queued.
    /// - Throws: ERROR_SEM_TIMEOUT (121) when no message arrives in time.
    ///
    /// This call blocks the calling thread; from async code use ``read(maxLength:timeout:)-async`` or ``messages``.
    /// The corresponding Win32 function is `ReadFile`.
    public func read(maxLength: Int = Int.max, timeout: MailslotTimeout? = nil) throws(MailslotError) -> [UInt8] {
        try blockingRead(maxLength: maxLength, timeout: timeout, cancelled: CancelFlag?.none)
    }

    /// Reads the oldest message into `buffer` and returns its length.
    /// The corresponding Win32 function is `ReadFile`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, timeout: MailslotTimeout? = nil) throws(MailslotError) -> Int {
        try read(into: buffer, timeout: timeout, cancellation: CancelFlag())
    }

    /// Reads the oldest message without blocking a thread: the read waits in a queue that the mailslot's
    /// own I/O thread serves. Cancelling the task ends the wait with ERROR_OPERATION_ABORTED.
    public func read(maxLength: Int = Int.max, timeout: MailslotTimeout? = nil) async throws(MailslotError) -> [UInt8] {
        try checkOpen()
        let timeout = timeout ?? MailslotTimeout(rawValue: engine.queue.readTimeout)
        return try await engine.receive(maxLength: maxLength, timeout: timeout).get()
    }

    /// The messages as they arrive, oldest first. The sequence waits for messages regardless of the
    /// read timeout, finishes when the mailslot is closed, and finishes when the task is cancelled.
    /// Messages larger than `maxLength` end the sequence with ERROR_INSUFFICIENT_BUFFER (and stay queued).
    public var messages: Messages { Messages(server: self, maxLength: Int.max) }

    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = [UInt8]
        let server: MailslotServer
        let maxLength: Int
        public func makeAsyncIterator() -> Iterator { Iterator(server: server, maxLength: maxLength) }

        public struct Iterator: AsyncIteratorProtocol {
            let server: MailslotServer
            let maxLength: Int
            public mutating func next() async throws -> [UInt8]? {
                if Task.isCancelled || server.isClosed { return nil }
                let result: Result<[UInt8], MailslotError>
                do throws(MailslotError) {
                    result = .success(try await server.read(maxLength: maxLength, timeout: .forever))
                } catch {
                    result = .failure(error)
                }
                switch result {
                case .success(let bytes): return bytes
                case .failure(let error):
                    if error.code == .operationAborted || error.code == .invalidHandle { return nil }
                    throw error
                }
            }
        }
    }

    // MARK: information

    /// The mailslot's maximum message size, next message size, message count and read timeout.
    ///
    /// Every message whose write has returned is counted. The corresponding Win32 function is `GetMailslotInfo`.
    public func info() throws(MailslotError) -> MailslotInfo {
        try checkOpen()
        let s = engine.exactSnapshot()
        return MailslotInfo(maxMessageSize: engine.queue.maxMessageSize, nextMessageSize: s.nextSize, messageCount: s.count,
                            readTimeout: MailslotTimeout(rawValue: s.readTimeout), queuedBytes: s.usedBytes, quota: engine.queue.capacity)
    }

    /// Changes the read timeout for later reads, in every process that holds this mailslot.
    /// The corresponding Win32 function is `SetMailslotInfo`.
    public func setReadTimeout(_ timeout: MailslotTimeout) throws(MailslotError) {
        try checkOpen()
        engine.queue.readTimeout = timeout.rawValue
    }

    /// A descriptor that polls readable while a message waits, for `poll`/`epoll` event loops. It stays
    /// owned by the server: do not close it.
    public var readinessDescriptor: Int32 {
        engine.enableReadyDescriptor()
        return engine.readyFD
    }

    /// What this process's server has counted: writers accepted and refused, messages received, and
    /// writers dropped for breaking the protocol.
    public var counters: MailslotCounters { engine.counters }

    // MARK: internals

    private func checkOpen() throws(MailslotError) {
        if engine.isClosed { throw MailslotError(.invalidHandle, "the mailslot \(name) has been closed in this process") }
    }

    func blockingRead(maxLength: Int, timeout: MailslotTimeout?, cancelled: CancelFlag?) throws(MailslotError) -> [UInt8] {
        try waitLoop(timeout: timeout, cancelled: cancelled) { () throws(MailslotError) -> [UInt8]? in
            try engine.takeMessage(maxLength: maxLength)?.get()
        }
    }

    /// Every synchronous read: the engine's one read protocol, and the errors its endings mean here.
    fileprivate func waitLoop<T>(timeout: MailslotTimeout?, cancelled: CancelFlag?, attempt: () throws(MailslotError) -> T?) throws(MailslotError) -> T {
        try checkOpen()
        let timeout = timeout ?? MailslotTimeout(rawValue: engine.queue.readTimeout)
        switch try engine.receive(timeout: timeout, cancellation: cancelled, take: attempt) {
        case .value(let value): return value
        case .closed: throw MailslotError(.operationAborted, "the mailslot \(name) was closed while a read was waiting")
        case .cancelled: throw MailslotError(.operationAborted, "the read was cancelled")
        case .timedOut: throw MailslotError(.semTimeout, "no message arrived in \(name) within \(timeout)")
        }
    }
}

extension MailslotServer {
    /// A blocking read that another thread can cancel with ``cancelRead(_:)`` (the C API's `CancelIo`):
    /// it then fails with ERROR_OPERATION_ABORTED, and a message it had not taken stays queued.
    package func read(into buffer: UnsafeMutableRawBufferPointer, timeout: MailslotTimeout?,
                      cancellation: CancelFlag) throws(MailslotError) -> Int {
        try waitLoop(timeout: timeout, cancelled: cancellation) { () throws(MailslotError) -> Int? in
            switch engine.queue.pop(into: buffer) {
            case .message(let n): return n
            case .tooSmall(let n): throw engine.tooSmall(n, buffer.count)
            case .empty: return nil
            }
        }
    }

    /// A blocking read of the oldest message (up to `maxLength` bytes, else ERROR_INSUFFICIENT_BUFFER and it
    /// stays), waiting the mailslot's read timeout, that another thread can end with ``cancelRead(_:)``.
    package func read(maxLength: Int, cancellation: CancelFlag) throws(MailslotError) -> [UInt8] {
        try blockingRead(maxLength: maxLength, timeout: nil, cancelled: cancellation)
    }

    /// Ends a read started with ``read(into:timeout:cancellation:)`` and `cancellation`.
    package func cancelRead(_ cancellation: CancelFlag) { engine.cancel(cancellation) }
}
