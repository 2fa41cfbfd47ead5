import Logging
import MailslotCore
import Synchronization

/// A writer's connection to a local mailslot.
public final class LocalWriter: @unchecked Sendable {
    public let name: MailslotName
    public let greeting: LocalGreeting
    /// How long a write may wait for a full mailslot, in ms (0: fail at once).
    public let writeTimeoutMilliseconds: UInt32
    private let address: [UInt8]
    private let connection: Locked<FD>
    private let logger: Logger

    private init(name: MailslotName, address: [UInt8], fd: FD, greeting: LocalGreeting, writeTimeoutMilliseconds: UInt32, logger: Logger) {
        self.name = name
        self.address = address
        self.greeting = greeting
        self.writeTimeoutMilliseconds = writeTimeoutMilliseconds
        self.connection = Locked(fd)
        self.logger = logger
    }

    deinit { close() }

    /// Opens a local mailslot for writing.
    ///
    /// - Throws: ERROR_FILE_NOT_FOUND (2) when no server serves the name, ERROR_ACCESS_DENIED (5) when the
    ///   server's access rule refuses this process, ERROR_SEM_TIMEOUT (121) when the server does not answer.
    public static func open(_ name: MailslotName, writeTimeoutMilliseconds: UInt32, logger: Logger) throws(MailslotError) -> LocalWriter {
        let address = LocalProtocol.abstractAddress(forKey: name.key)
        let (fd, greeting) = try connect(name, address, timeoutMilliseconds: max(writeTimeoutMilliseconds, 1000))
        return try accepted(name, address, fd, greeting, writeTimeoutMilliseconds: writeTimeoutMilliseconds, logger: logger)
    }

    private static func accepted(_ name: MailslotName, _ address: [UInt8], _ fd: FD, _ greeting: LocalGreeting,
                                 writeTimeoutMilliseconds: UInt32, logger: Logger) throws(MailslotError) -> LocalWriter {
        if greeting.status == .accessDenied {
            Sys.close(fd)
            throw MailslotError(.accessDenied, "the server of \(name) (pid \(greeting.serverPID)) does not let this user write to it; its creator must allow it (mailslot listen --allow-everyone, or WriterAccess.group/.everyone)")
        }
        logger.trace("mailslot opened for writing", metadata: ["path": "\(name.path)", "server_pid": "\(greeting.serverPID)"])
        return LocalWriter(name: name, address: address, fd: fd, greeting: greeting,
                           writeTimeoutMilliseconds: writeTimeoutMilliseconds, logger: logger)
    }

    /// An open that never blocks, for an event loop (the gateway): ``begin(_:)`` connects, the caller polls
    /// ``fd`` for readable, and ``finish(writeTimeoutMilliseconds:logger:)`` reads the greeting. A server
    /// that is stopped, stuck or not a mailslot server at all then costs the loop nothing while it waits.
    public struct PendingOpen: Sendable {
        public let name: MailslotName
        public let fd: FD
        let address: [UInt8]

        /// Connects (without waiting for the greeting).
        /// - Throws: ERROR_FILE_NOT_FOUND (2) when no server serves the name; ERROR_SEM_TIMEOUT (121) when its
        ///   backlog is full.
        public static func begin(_ name: MailslotName) throws(MailslotError) -> PendingOpen {
            let address = LocalProtocol.abstractAddress(forKey: name.key)
            return PendingOpen(name: name, fd: try LocalWriter.startConnect(name, address, bindingTo: nil, waitMilliseconds: 0), address: address)
        }

        /// The writer once the server has greeted; nil while it has not. Throws what ``LocalWriter/open`` throws.
        public func finish(writeTimeoutMilliseconds: UInt32, logger: Logger) throws(MailslotError) -> LocalWriter? {
            guard let greeting = try LocalWriter.readGreeting(fd, name, checkName: true) else { return nil }
            return try LocalWriter.accepted(name, address, fd, greeting, writeTimeoutMilliseconds: writeTimeoutMilliseconds, logger: logger)
        }

        /// Gives up (the server did not answer in time).
        public func cancel() { Sys.close(fd) }
    }

    /// Connects and reads the server's greeting. Used by ``open`` and by `mailslot list`.
    public static func connect(_ name: MailslotName, _ address: [UInt8], timeoutMilliseconds: UInt32, checkName: Bool = true,
                               bindingTo local: [UInt8]? = nil) throws(MailslotError) -> (FD, LocalGreeting) {
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        let fd = try startConnect(name, address, bindingTo: local, waitMilliseconds: timeoutMilliseconds)
        while true {
            let greeting: LocalGreeting?
            do throws(MailslotError) { greeting = try readGreeting(fd, name, checkName: checkName) } catch {
                Sys.close(fd)
                throw error
            }
            if let greeting { return (fd, greeting) }
            let remaining = deadline.remainingMilliseconds
            if remaining == 0 {
                Sys.close(fd)
                throw MailslotError(.semTimeout, "the server of \(name) did not answer within \(timeoutMilliseconds) ms; it may be stuck")
            }
            _ = try? Sys.poll(fd, .readable, timeoutMilliseconds: Int32(clamping: remaining))
        }
    }

    /// A non-blocking connection to a mailslot's address; retries a full backlog for `waitMilliseconds`.
    static func startConnect(_ name: MailslotName, _ address: [UInt8], bindingTo local: [UInt8]?,
                             waitMilliseconds: UInt32) throws(MailslotError) -> FD {
        let fd: FD
        do throws(Errno) {
            fd = try Sys.unixSocket(seqpacket: true)
            if let local { try Sys.bindAbstract(fd, local) }
        } catch {
            throw MailslotError.system("could not create a socket", error)
        }
        let deadline = Deadline(milliseconds: waitMilliseconds)
        while true {
            do throws(Errno) {
                try Sys.connectAbstract(fd, address)
                return fd
            } catch where error.code == Errno.again && !deadline.passed {
                _ = try? Sys.poll(fd, .writable, timeoutMilliseconds: 1) // the server's backlog is full
            } catch {
                Sys.close(fd)
                switch error.code {
                case Errno.connectionRefused, Errno.noEntry:
                    throw MailslotError(.fileNotFound, "no mailslot named \(name) exists on this machine; start its server first (mailslot listen '\(name)')")
                case Errno.again:
                    throw MailslotError(.semTimeout, "the server of \(name) did not accept the connection within \(waitMilliseconds) ms; it may be stuck")
                default:
                    throw MailslotError.system("could not connect to \(name)", error)
                }
            }
        }
    }

    /// The server's greeting if it has arrived (nil: not yet). Throws when the peer is not a mailslot
    /// server of this version, or serves another name.
    static func readGreeting(_ fd: FD, _ name: MailslotName, checkName: Bool) throws(MailslotError) -> LocalGreeting? {
        var buffer = [UInt8](repeating: 0, count: 8192)
        let received: Int?
        do throws(Errno) {
            received = try Sys.receive(fd, into: &buffer)
        } catch {
            throw MailslotError(.fileNotFound, "the server of \(name) closed the connection; it is shutting down", cause: error.cause)
        }
        guard let received else { return nil }
        guard let greeting = LocalGreeting(decoding: Array(buffer[0..<received])) else {
            throw MailslotError(.fileNotFound, "the socket behind \(name) is not a mailslot server of this version")
        }
        guard !checkName || MailslotName.fold(greeting.path) == name.key else {
            throw MailslotError(.fileNotFound, "no mailslot named \(name) exists on this machine (its address is taken by \\\\.\\mailslot\\\(greeting.path))")
        }
        return greeting
    }

    /// Asks the server of a local mailslot for its state (GetMailslotInfo on a client handle): a short
    /// connection of its own whose socket name says it is a query (``LocalProtocol/queryPrefix``).
    ///
    /// - Throws: ERROR_FILE_NOT_FOUND (2) when no server serves the name any more, ERROR_ACCESS_DENIED (5)
    ///   when its access rule refuses this process.
    public static func query(_ name: MailslotName, timeoutMilliseconds: UInt32 = 1000) throws(MailslotError) -> LocalGreeting {
        let local = LocalProtocol.queryPrefix + Array("\(Sys.pid):\(querySerial.add(1, ordering: .relaxed).newValue)".utf8)
        let (fd, greeting) = try connect(name, LocalProtocol.abstractAddress(forKey: name.key), timeoutMilliseconds: timeoutMilliseconds,
                                         bindingTo: local)
        Sys.close(fd)
        guard greeting.status == .ok, greeting.state != nil else {
            throw MailslotError(.accessDenied, "the server of \(name) does not let this user query it")
        }
        return greeting
    }

    private static let querySerial = Atomic<UInt64>(0)

    /// Sends one message. It is queued at the server once this returns.
    ///
    /// - Throws: ERROR_MESSAGE_EXCEEDS_MAX_SIZE (4336) for a message over the server's maximum (nothing is sent);
    ///   ERROR_SEM_TIMEOUT (121) when the mailslot could not take the message within the write timeout;
    ///   ERROR_BROKEN_PIPE (109) when the server has closed the mailslot; ERROR_INVALID_HANDLE (6) after close.
    public func write(_ message: UnsafeRawBufferPointer, timeoutMilliseconds: UInt32? = nil) throws(MailslotError) {
        let wait = timeoutMilliseconds ?? writeTimeoutMilliseconds
        try checkSize(message.count)
        try connection.withLock { (fd: inout FD) throws(MailslotError) in
            if fd < 0 {
                guard fd == LocalWriter.reconnectNeeded else {
                    throw MailslotError(.invalidHandle, "this mailslot writer has been closed")
                }
                fd = try reconnect()
            }
            var deadline = Deadline(milliseconds: wait)
            if message.count <= LocalProtocol.maxRecordPayload {
                try send(fd, LocalFrame.whole, message, deadline, waited: wait)
                return
            }
            var offset = 0
            while offset < message.count {
                let end = min(offset + LocalProtocol.maxRecordPayload, message.count)
                let kind: LocalFrame = end == message.count ? .last : .part
                do throws(MailslotError) {
                    try send(fd, kind, UnsafeRawBufferPointer(rebasing: message[offset..<end]), deadline, waited: wait)
                } catch {
                    // A message cut short must not be delivered: drop the connection (the server discards the
                    // partial message) and connect again on the next write.
                    Sys.close(fd)
                    fd = LocalWriter.reconnectNeeded
                    throw error
                }
                offset = end
                // The timeout bounds a wait without progress, so a large message is not cut short.
                deadline = Deadline(milliseconds: wait)
            }
        }
    }

    /// Sends one message held in an array.
    public func write(_ message: [UInt8], timeoutMilliseconds: UInt32? = nil) throws(MailslotError) {
        var failure: MailslotError?
        message.withUnsafeBytes { buffer in
            do throws(MailslotError) { try write(buffer, timeoutMilliseconds: timeoutMilliseconds) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Sends several messages, in order, with as few system calls as the socket buffer allows. Each is
    /// one message, exactly as with ``write(_:)-(UnsafeRawBufferPointer)``; on an error, the messages before
    /// the failing one have been sent and `sent` says how many.
    public func write(batch messages: ArraySlice<[UInt8]>, sent: inout Int, timeoutMilliseconds: UInt32? = nil) throws(MailslotError) {
        sent = 0
        var index = messages.startIndex
        while index < messages.endIndex {
            // Runs of small messages go together; a large one goes alone through the multi-part path.
            // A message that fails the size checks ends the run and is written alone, so that it throws
            // with `sent` counting exactly the messages before it.
            var end = index
            while end < messages.endIndex, end - index < 64, messages[end].count <= LocalProtocol.maxRecordPayload,
                  (try? checkSize(messages[end].count)) != nil { end += 1 }
            if end == index {
                try write(messages[index], timeoutMilliseconds: timeoutMilliseconds)
                index += 1
                sent += 1
                continue
            }
            let went = try connection.withLock { (fd: inout FD) throws(MailslotError) -> Int in
                guard fd >= 0 else { return 0 } // closed or reconnecting: the single-message path handles it
                do throws(Errno) {
                    return try Sys.sendFramedBatch(fd, kind: LocalFrame.whole.rawValue, messages[index..<end])
                } catch {
                    throw sendFailure(error)
                }
            }
            if went == 0 {
                // Full (or not connected): one message through the waiting path, then batch again.
                try write(messages[index], timeoutMilliseconds: timeoutMilliseconds)
                index += 1
                sent += 1
            } else {
                index += went
                sent += went
            }
        }
    }

    func checkSize(_ count: Int) throws(MailslotError) {
        if greeting.maxMessageSize != 0 && count > Int(greeting.maxMessageSize) {
            throw MailslotError(.messageExceedsMaxSize, "the message is \(count) bytes; \(name) accepts at most \(greeting.maxMessageSize) bytes per message (its maximum message size). Nothing was sent")
        }
        if count > MailslotLimits.largestMessage {
            throw MailslotError(.messageExceedsMaxSize, "the message is \(count) bytes; the largest message a local mailslot carries is \(MailslotLimits.largestMessage) bytes (64 MiB). Nothing was sent")
        }
        if count > Int(greeting.quota) - MailslotLimits.perMessageOverhead {
            throw MailslotError(.notEnoughQuota, "the message is \(count) bytes, more than \(name)'s whole quota of \(greeting.quota) bytes can hold; the server must raise its quota. Nothing was sent")
        }
    }

    private func send(_ fd: FD, _ kind: LocalFrame, _ bytes: UnsafeRawBufferPointer, _ deadline: Deadline, waited: UInt32) throws(MailslotError) {
        while true {
            let sent: Bool
            do throws(Errno) {
                sent = try Sys.sendFramed(fd, kind: kind.rawValue, bytes)
            } catch {
                throw sendFailure(error)
            }
            if sent { return }
            let remaining = deadline.remainingMilliseconds
            if remaining == 0 {
                throw MailslotError(.semTimeout, "\(name) did not take the message within \(waited) ms: its queue is full (quota \(greeting.quota) bytes) or its server is not reading. The message was not delivered; retry later, or raise the write timeout or the server's quota")
            }
            _ = try? Sys.poll(fd, .writable, timeoutMilliseconds: Int32(clamping: remaining))
        }
    }

    /// What a failed send means to the writer: the server has gone (109), or an unexpected failure.
    private func sendFailure(_ error: Errno) -> MailslotError {
        switch error.code {
        case Errno.brokenPipe, Errno.connectionReset, Errno.notConnected, Errno.connectionRefused:
            return MailslotError(.brokenPipe, "the server of \(name) has closed the mailslot; the message was not delivered. Open the name again once a server has created it")
        default:
            return MailslotError.system("could not send to \(name)", error)
        }
    }

    private static let reconnectNeeded: FD = -2

    private func reconnect() throws(MailslotError) -> FD {
        do throws(MailslotError) {
            let (fd, greeting) = try LocalWriter.connect(name, address, timeoutMilliseconds: max(writeTimeoutMilliseconds, 1000))
            guard greeting.status == .ok else {
                Sys.close(fd)
                throw MailslotError(.accessDenied, "the server of \(name) no longer lets this user write")
            }
            return fd
        } catch where error.code == .fileNotFound {
            throw MailslotError(.brokenPipe, "the server of \(name) has closed the mailslot; the message was not delivered")
        }
    }

    /// Closes the connection. Messages already written stay queued at the server.
    public func close() {
        connection.withLock { fd in
            if fd >= 0 { Sys.close(fd) }
            fd = -1
        }
    }
}

/// A point in CLOCK_MONOTONIC time, `nil` meaning never.
public struct Deadline: Sendable {
    let end: UInt64?
    public init(milliseconds: UInt32?) {
        guard let milliseconds else { end = nil; return }
        end = Sys.monotonicNanoseconds() + UInt64(milliseconds) * 1_000_000
    }
    public var passed: Bool { remainingNanoseconds == 0 }
    /// Remaining time in ns; Int64.max for never.
    public var remainingNanoseconds: Int64 {
        guard let end else { return Int64.max }
        let now = Sys.monotonicNanoseconds()
        return now >= end ? 0 : Int64(end - now)
    }
    /// Remaining time in whole ms, rounded up (so a wait never ends early); UInt32.max for never.
    public var remainingMilliseconds: UInt32 {
        let ns = remainingNanoseconds
        if ns == Int64.max { return UInt32.max }
        return UInt32(clamping: (ns + 999_999) / 1_000_000)
    }
}
