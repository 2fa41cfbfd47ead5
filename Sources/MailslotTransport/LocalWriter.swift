import Logging
import MailslotCore

/// A writer's connection to a local mailslot: the connection (credentials, greeting, doorbell) and the
/// ring of its own that the server handed over with the greeting.
package final class LocalWriter: @unchecked Sendable {
    package let name: MailslotName
    package let greeting: LocalGreeting
    /// How long a write may wait for a full mailslot, in ms (0: fail at once).
    package let writeTimeoutMilliseconds: UInt32
    private let address: [UInt8]
    private let link: Locked<Link>
    private let logger: Logger

    /// An open connection and its ring.
    final class Channel {
        let fd: FD
        let ring: ClientRing
        init(fd: FD, ring: ClientRing) {
            self.fd = fd
            self.ring = ring
        }
        deinit { Sys.close(fd) }
    }

    enum Link {
        case open(Channel)
        /// A multi-part write was cut short: the connection was dropped (so the server discards the part
        /// it has) and the next write connects again.
        case reconnect
        case closed
    }

    private init(name: MailslotName, address: [UInt8], channel: Channel, greeting: LocalGreeting, writeTimeoutMilliseconds: UInt32, logger: Logger) {
        self.name = name
        self.address = address
        self.greeting = greeting
        self.writeTimeoutMilliseconds = writeTimeoutMilliseconds
        self.link = Locked(.open(channel))
        self.logger = logger
    }

    deinit { close() }

    /// Opens a local mailslot for writing.
    ///
    /// - Throws: ERROR_FILE_NOT_FOUND (2) when no server serves the name, ERROR_ACCESS_DENIED (5) when the
    ///   server's access rule refuses this process, ERROR_SEM_TIMEOUT (121) when the server does not answer,
    ///   ERROR_NO_SYSTEM_RESOURCES (1450) when it already serves as many writers as it takes.
    package static func open(_ name: MailslotName, writeTimeoutMilliseconds: UInt32, logger: Logger) throws(MailslotError) -> LocalWriter {
        let address = LocalProtocol.abstractAddress(forKey: name.key)
        let (fd, greeting, fds) = try connectForWriting(name, address, timeoutMilliseconds: max(writeTimeoutMilliseconds, 1000))
        return try accepted(name, address, fd, greeting, fds, writeTimeoutMilliseconds: writeTimeoutMilliseconds, logger: logger)
    }

    private static func accepted(_ name: MailslotName, _ address: [UInt8], _ fd: FD, _ greeting: LocalGreeting, _ fds: [FD],
                                 writeTimeoutMilliseconds: UInt32, logger: Logger) throws(MailslotError) -> LocalWriter {
        let channel = try channel(name, fd, greeting, fds)
        logger.trace("mailslot opened for writing", metadata: ["path": "\(name.path)", "server_pid": "\(greeting.serverPID)"])
        return LocalWriter(name: name, address: address, channel: channel, greeting: greeting,
                           writeTimeoutMilliseconds: writeTimeoutMilliseconds, logger: logger)
    }

    /// The connection and ring of an accepting greeting; the errors of a refusing one.
    private static func channel(_ name: MailslotName, _ fd: FD, _ greeting: LocalGreeting, _ fds: [FD]) throws(MailslotError) -> Channel {
        func fail(_ error: MailslotError) -> MailslotError {
            Sys.close(fd)
            for extra in fds { Sys.close(extra) }
            return error
        }
        switch greeting.status {
        case .accessDenied:
            throw fail(MailslotError(.accessDenied, "the server of \(name) (pid \(greeting.serverPID)) does not let this user write to it; its creator must allow it (mailslot listen --allow-everyone, or WriterAccess.group/.everyone)"))
        case .tooManyWriters:
            throw fail(MailslotError(.noSystemResources, "the server of \(name) (pid \(greeting.serverPID)) already serves \(LocalServerEngine.maxConnections) writers, as many as it takes at once; close writers you do not need and open it again"))
        case .serverOutOfResources:
            throw fail(MailslotError(.noSystemResources, "the server of \(name) (pid \(greeting.serverPID)) could not set up a ring for this writer: it has run out of file descriptors or memory for now; try again later, or raise its limits (ulimit -n)"))
        case .ok:
            guard fds.count == 2 else {
                throw fail(MailslotError(.fileNotFound, "the socket behind \(name) is not a mailslot server of this version (no ring in its greeting)"))
            }
            let ring: ClientRing
            do throws(Errno) {
                ring = try ClientRing(ringFD: fds[0], livenessFD: fds[1])
            } catch {
                Sys.close(fd)
                throw MailslotError(.fileNotFound, "the server of \(name) sent a ring this writer cannot use", cause: error.cause)
            }
            return Channel(fd: fd, ring: ring)
        }
    }

    /// An open that never blocks, for an event loop (the gateway): ``begin(_:spare:)`` connects, the caller polls
    /// ``fd`` for readable, and ``finish(writeTimeoutMilliseconds:logger:)`` reads the greeting. A server
    /// that is stopped, stuck or not a mailslot server at all then costs the loop nothing while it waits.
    package struct PendingOpen: Sendable {
        package let name: MailslotName
        package let fd: FD
        let address: [UInt8]

        /// Connects (without waiting for the greeting), on `spare` when it holds a socket: the one an open
        /// that found no server left. A refused connect leaves its socket unconnected and fit for the next
        /// connect, so it is left in `spare` rather than closed: a gateway that hears datagrams for a mailslot
        /// nobody serves pays one connect(2) for each batch, not a socket(2), a connect(2) and a close(2).
        /// The caller closes `spare` when it is done.
        /// - Returns: nil when no server serves the name (for the gateway an outcome, not an error: no error
        ///   and its message are made for each datagram nobody serves).
        /// - Throws: ERROR_SEM_TIMEOUT (121) when the server's backlog is full; another error when no socket
        ///   can be made.
        package static func begin(_ name: MailslotName, spare: inout FD?) throws(MailslotError) -> PendingOpen? {
            let address = LocalProtocol.abstractAddress(forKey: name.key)
            let fd: FD
            if let reused = spare {
                fd = reused
                spare = nil
            } else {
                fd = try LocalWriter.socket(bindingTo: nil)
            }
            do throws(Errno) {
                try LocalWriter.connect(fd, to: address, waitMilliseconds: 0)
                return PendingOpen(name: name, fd: fd, address: address)
            } catch where error.code == Errno.connectionRefused {
                spare = fd
                return nil
            } catch {
                Sys.close(fd)
                throw MailslotError(error, .connect(name, waited: 0))
            }
        }

        /// The writer once the server has greeted; nil while it has not. Throws what ``LocalWriter/open`` throws.
        package func finish(writeTimeoutMilliseconds: UInt32, logger: Logger) throws(MailslotError) -> LocalWriter? {
            guard let (greeting, fds) = try LocalWriter.readGreeting(fd, name, checkName: true) else { return nil }
            return try LocalWriter.accepted(name, address, fd, greeting, fds, writeTimeoutMilliseconds: writeTimeoutMilliseconds, logger: logger)
        }

        /// Gives up (the server did not answer in time).
        package func cancel() { Sys.close(fd) }
    }

    /// Connects and reads the server's greeting (a probe: any ring the greeting brings is closed).
    package static func connect(_ name: MailslotName, _ address: [UInt8], timeoutMilliseconds: UInt32, checkName: Bool = true,
                               bindingTo local: [UInt8]? = nil) throws(MailslotError) -> (FD, LocalGreeting) {
        let (fd, greeting, fds) = try connectForWriting(name, address, timeoutMilliseconds: timeoutMilliseconds, checkName: checkName, bindingTo: local)
        for extra in fds { Sys.close(extra) }
        return (fd, greeting)
    }

    /// Connects and reads the server's greeting and the descriptors that come with it.
    static func connectForWriting(_ name: MailslotName, _ address: [UInt8], timeoutMilliseconds: UInt32, checkName: Bool = true,
                                  bindingTo local: [UInt8]? = nil) throws(MailslotError) -> (FD, LocalGreeting, [FD]) {
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        let fd = try startConnect(name, address, bindingTo: local, waitMilliseconds: timeoutMilliseconds)
        while true {
            let answer: (LocalGreeting, [FD])?
            do throws(MailslotError) { answer = try readGreeting(fd, name, checkName: checkName) } catch {
                Sys.close(fd)
                throw error
            }
            if let (greeting, fds) = answer { return (fd, greeting, fds) }
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
        let fd = try socket(bindingTo: local)
        do throws(Errno) {
            try connect(fd, to: address, waitMilliseconds: waitMilliseconds)
            return fd
        } catch {
            Sys.close(fd)
            throw MailslotError(error, .connect(name, waited: waitMilliseconds))
        }
    }

    /// A non-blocking SOCK_SEQPACKET socket for a connection to a mailslot, bound to `local` when given.
    private static func socket(bindingTo local: [UInt8]?) throws(MailslotError) -> FD {
        do throws(Errno) {
            let fd = try Sys.unixSocket(seqpacket: true)
            guard let local else { return fd }
            do throws(Errno) { try Sys.bindAbstract(fd, local) } catch {
                Sys.close(fd)
                throw error
            }
            return fd
        } catch {
            throw MailslotError.system("could not create a socket", error)
        }
    }

    /// Connects `fd` to a mailslot's address, retrying for `waitMilliseconds` while the server's backlog is full.
    private static func connect(_ fd: FD, to address: [UInt8], waitMilliseconds: UInt32) throws(Errno) {
        let deadline = Deadline(milliseconds: waitMilliseconds)
        while true {
            do throws(Errno) {
                try Sys.connectAbstract(fd, address)
                return
            } catch where error.code == Errno.again && !deadline.passed {
                _ = try? Sys.poll(fd, .writable, timeoutMilliseconds: 1)
            }
        }
    }

    /// The server's greeting and the descriptors sent with it, if it has arrived (nil: not yet). Throws
    /// when the peer is not a mailslot server of this version, or serves another name.
    static func readGreeting(_ fd: FD, _ name: MailslotName, checkName: Bool) throws(MailslotError) -> (LocalGreeting, [FD])? {
        let received: ([UInt8], [FD])?
        do throws(Errno) {
            received = try Sys.receiveDescriptors(fd, maxPayload: 8192)
        } catch {
            throw MailslotError(error, .receiveGreeting(name))
        }
        guard let (bytes, fds) = received else { return nil }
        func fail(_ error: MailslotError) -> MailslotError {
            for extra in fds { Sys.close(extra) }
            return error
        }
        guard let greeting = LocalGreeting(decoding: bytes) else {
            throw fail(MailslotError(.fileNotFound, bytes.isEmpty ? "the server of \(name) closed the connection; it is shutting down"
                                        : "the socket behind \(name) is not a mailslot server of this version"))
        }
        guard !checkName || MailslotName.fold(greeting.path) == name.key else {
            throw fail(MailslotError(.fileNotFound, "no mailslot named \(name) exists on this machine (its address is taken by \\\\.\\mailslot\\\(greeting.path))"))
        }
        return (greeting, fds)
    }

    /// Asks the server of a local mailslot for its state (GetMailslotInfo on a client handle): a short
    /// connection of its own whose socket name says it is a query (``LocalProtocol/queryPrefix``).
    ///
    /// - Throws: ERROR_FILE_NOT_FOUND (2) when no server serves the name any more, ERROR_ACCESS_DENIED (5)
    ///   when its access rule refuses this process.
    package static func query(_ name: MailslotName, timeoutMilliseconds: UInt32 = 1000) throws(MailslotError) -> LocalGreeting {
        let (fd, greeting) = try connect(name, LocalProtocol.abstractAddress(forKey: name.key), timeoutMilliseconds: timeoutMilliseconds,
                                         bindingTo: LocalDirectory.queryAddress("info"))
        Sys.close(fd)
        guard greeting.status == .ok, greeting.state != nil else {
            throw MailslotError(.accessDenied, "the server of \(name) does not let this user query it")
        }
        return greeting
    }

    /// Sends one message: a copy into this writer's ring. It is in the mailslot once this returns.
    ///
    /// - Throws: ERROR_MESSAGE_EXCEEDS_MAX_SIZE (4336) for a message over the server's maximum (nothing is sent);
    ///   ERROR_SEM_TIMEOUT (121) when the mailslot could not take the message within the write timeout;
    ///   ERROR_BROKEN_PIPE (109) when the server has closed the mailslot; ERROR_INVALID_HANDLE (6) after close.
    package func write(_ message: UnsafeRawBufferPointer, timeoutMilliseconds: UInt32? = nil) throws(MailslotError) {
        let wait = timeoutMilliseconds ?? writeTimeoutMilliseconds
        try checkSize(message.count)
        try link.withLock { (link: inout Link) throws(MailslotError) in
            let channel: Channel
            switch link {
            case .open(let open): channel = open
            case .closed: throw MailslotError(.invalidHandle, "this mailslot writer has been closed")
            case .reconnect:
                channel = try reconnect()
                link = .open(channel)
            }
            guard channel.ring.serverAlive else { throw serverGone() }
            if message.count <= RingLayout.maxPayload {
                try put(channel, .whole, stamp: nil, message, Deadline(milliseconds: wait), waited: wait)
                return
            }
            var offset = 0
            while offset < message.count {
                let end = min(offset + RingLayout.maxPayload, message.count)
                let kind: RingKind = offset == 0 ? .first : end == message.count ? .last : .part
                do throws(MailslotError) {
                    // The timeout bounds a wait without progress, so a large message is not cut short.
                    try put(channel, kind, stamp: kind == .first ? UInt64(message.count) : nil,
                            UnsafeRawBufferPointer(rebasing: message[offset..<end]), Deadline(milliseconds: wait), waited: wait)
                } catch {
                    // A message cut short must not be delivered: drop the connection (the server discards the
                    // part it has) and connect again on the next write.
                    link = .reconnect
                    throw error
                }
                offset = end
            }
        }
    }

    /// Sends one message held in an array.
    package func write(_ message: [UInt8], timeoutMilliseconds: UInt32? = nil) throws(MailslotError) {
        var failure: MailslotError?
        message.withUnsafeBytes { buffer in
            do throws(MailslotError) { try write(buffer, timeoutMilliseconds: timeoutMilliseconds) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Whether a message of `count` bytes (its first part, for one written in parts) would go into the ring
    /// now, without waiting: a look at the ring, no system call. True too when only a write can tell (the
    /// writer is closed or must reconnect, or the server is gone): the caller then writes and learns why.
    package func hasRoom(for count: Int) -> Bool {
        link.withLock { link in
            guard case .open(let channel) = link, channel.ring.serverAlive else { return true }
            return channel.ring.hasRoom(for: min(count, RingLayout.maxPayload))
        }
    }

    /// Sends several messages, in order. Each is one message, exactly as with
    /// ``write(_:timeoutMilliseconds:)-(UnsafeRawBufferPointer,_)``; on an error, the messages before the
    /// failing one have been sent and `sent` says how many.
    package func write(batch messages: ArraySlice<[UInt8]>, sent: inout Int, timeoutMilliseconds: UInt32? = nil) throws(MailslotError) {
        sent = 0
        for message in messages {
            try write(message, timeoutMilliseconds: timeoutMilliseconds)
            sent += 1
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

    /// Copies one record into the ring, waiting for room up to the deadline, and rings the doorbell when
    /// the server sleeps. `stamp` nil: the record is stamped now, just before it is published.
    private func put(_ channel: Channel, _ kind: RingKind, stamp: UInt64?, _ bytes: UnsafeRawBufferPointer,
                     _ deadline: Deadline, waited: UInt32) throws(MailslotError) {
        let ring = channel.ring
        while true {
            if ring.append(kind, stamp: stamp ?? Sys.monotonicNanoseconds(), bytes) {
                if ring.takeDoorbell() { try ringDoorbell(channel) }
                return
            }
            // The ring is full: the server is behind (its quota is full, or it is not reading), or gone.
            guard ring.serverAlive, !Sys.peerHungUp(channel.fd) else { throw serverGone() }
            let remaining = deadline.remainingNanoseconds
            if remaining == 0 {
                throw MailslotError(.semTimeout, "\(name) did not take the message within \(waited) ms: its queue is full (quota \(greeting.quota) bytes) or its server is not reading. The message was not delivered; retry later, or raise the write timeout or the server's quota")
            }
            // In slices, so that a server that dies without a word is noticed.
            ring.waitForRoom(for: bytes.count, nanoseconds: min(remaining, 100_000_000))
        }
    }

    /// One byte on the connection wakes a server that sleeps in epoll.
    private func ringDoorbell(_ channel: Channel) throws(MailslotError) {
        let bell: [UInt8] = [1]
        do throws(Errno) {
            _ = try Sys.send(channel.fd, bell) // false (full): the server has bytes to wake on already
        } catch {
            throw MailslotError(error, .send(name))
        }
    }

    private func serverGone() -> MailslotError { MailslotError.serverClosed(name) }

    /// A new connection after a multi-part write was cut short; refusals as at open (``channel``).
    private func reconnect() throws(MailslotError) -> Channel {
        do throws(MailslotError) {
            let (fd, greeting, fds) = try LocalWriter.connectForWriting(name, address, timeoutMilliseconds: max(writeTimeoutMilliseconds, 1000))
            return try LocalWriter.channel(name, fd, greeting, fds)
        } catch where error.code == .fileNotFound {
            throw serverGone()
        }
    }

    /// Closes the connection. Messages already written stay queued at the server.
    package func close() {
        link.withLock { $0 = .closed }
    }
}
