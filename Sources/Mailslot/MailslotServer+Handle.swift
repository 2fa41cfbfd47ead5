import MailslotTransport

/// Handing the server handle to another process, as Windows does with handle inheritance and
/// `DuplicateHandle`. Every process that holds the handle reads from the same queue; the mailslot
/// lives until the last holder closes it or exits.
extension MailslotServer {
    /// The environment variable ``inheritableHandle()`` suggests for passing the token to a child.
    public static let handleEnvironmentVariable = "MAILSLOT_HANDLE"

    /// Makes the handle inheritable by child processes started (fork/exec, posix_spawn) after this call
    /// and returns a token that names it; give the token to the child (an argument, or the
    /// `MAILSLOT_HANDLE` environment variable) and call ``init(inheriting:options:)`` there.
    ///
    /// Like `bInheritHandle = TRUE`, it affects every child started from now on; call
    /// ``stopInheritance()`` once the child is running.
    /// The corresponding Win32 mechanism is `SECURITY_ATTRIBUTES.bInheritHandle` / `SetHandleInformation`.
    public func inheritableHandle() throws(MailslotError) -> String {
        try setInheritable(true)
        return "mailslot-handle:" + engine.handleDescriptors.map(String.init).joined(separator: ",")
    }

    /// Stops children started from now on from inheriting the handle.
    public func stopInheritance() throws(MailslotError) {
        try setInheritable(false)
    }

    private func setInheritable(_ on: Bool) throws(MailslotError) {
        guard !isClosed else { throw MailslotError(.invalidHandle, "the mailslot \(name) has been closed") }
        for fd in engine.handleDescriptors {
            do throws(Errno) { try Sys.setCloseOnExec(fd, !on) } catch {
                throw MailslotError.system("could not change the handle's inheritance", error)
            }
        }
    }

    /// Takes over a handle inherited from the parent process, given the token from ``inheritableHandle()``.
    public convenience init(inheriting token: String, options: Options = Options()) throws(MailslotError) {
        let parts = token.hasPrefix("mailslot-handle:") ? token.dropFirst("mailslot-handle:".count).split(separator: ",") : []
        let fds = parts.compactMap { Int32($0) }
        guard fds.count == 3, parts.count == 3 else {
            throw MailslotError(.invalidHandle, "'\(token)' is not a mailslot handle token (expected mailslot-handle:L,Q,R)")
        }
        try self.init(engine: try LocalServerEngine.adopt(listenFD: fds[0], queueFD: fds[1], readyFD: fds[2], logger: options.logger))
    }

    /// Sends a duplicate of the handle over a connected `AF_UNIX` socket (SCM_RIGHTS). The receiver calls
    /// ``init(receivingFrom:options:)``. This process keeps its own handle.
    /// The corresponding Win32 function is `DuplicateHandle`.
    public func send(over socket: Int32) throws(MailslotError) {
        guard !isClosed else { throw MailslotError(.invalidHandle, "the mailslot \(name) has been closed") }
        do throws(Errno) {
            try Sys.sendDescriptors(socket, Array("mailslot-handle".utf8), engine.handleDescriptors)
        } catch {
            throw MailslotError.system("could not send the mailslot handle", error)
        }
    }

    /// Receives a handle sent with ``send(over:)`` on a connected `AF_UNIX` socket (blocks until it arrives).
    public convenience init(receivingFrom socket: Int32, options: Options = Options()) throws(MailslotError) {
        let payload: [UInt8]
        let fds: [Int32]
        do throws(Errno) {
            // A non-blocking socket with nothing waiting fails as recvmsg would (EAGAIN).
            guard let received = try Sys.receiveDescriptors(socket, maxPayload: 64) else { throw Errno(Errno.again, "recvmsg(SCM_RIGHTS)") }
            (payload, fds) = received
        } catch {
            throw MailslotError.system("could not receive a mailslot handle", error)
        }
        guard payload == Array("mailslot-handle".utf8), fds.count == 3 else {
            fds.forEach(Sys.close)
            throw MailslotError(.invalidHandle, "what arrived on the socket is not a mailslot handle")
        }
        try self.init(engine: try LocalServerEngine.adopt(listenFD: fds[0], queueFD: fds[1], readyFD: fds[2], logger: options.logger))
    }
}

/// The mailslots that exist on this machine.
public enum MailslotDirectory {
    public typealias Entry = MailslotDirectoryEntry
    /// Every mailslot on this machine (in this network namespace), with the pids of the processes that hold it.
    ///
    /// Each server is asked for its state, all at once; one that has not answered within `timeout` (a
    /// stopped process, a socket that never speaks, a machine too busy to schedule the server's thread) is
    /// left out. The call returns as soon as every server has answered, so a longer `timeout` costs time
    /// only when some server is silent.
    public static func list(timeout: Duration = .milliseconds(300)) -> [Entry] {
        // Rounded up to whole milliseconds, so that a timeout under one millisecond still waits.
        LocalDirectory.entries(timeoutMilliseconds: UInt32(clamping: (timeout + Duration(secondsComponent: 0, attosecondsComponent: 999_999_999_999_999)).milliseconds))
    }
}
