// What a failed system call means to a mailslot user: the one place where an errno becomes a Win32 code
// and a message that says what to do. Call sites say which operation failed; the policy is here.
import MailslotCore

extension MailslotError {
    /// The operations whose failures mean something particular to a mailslot user.
    package enum Operation {
        /// Publishing a mailslot's name (bind, listen).
        case publish(MailslotName)
        /// Reserving a mailslot's queue of `quota` bytes.
        case reserveQueue(quota: Int)
        /// Connecting to a local mailslot's server; `waited` is how long a full backlog was retried.
        case connect(MailslotName, waited: UInt32)
        /// Sending to a local mailslot's server (the doorbell).
        case send(MailslotName)
        /// Binding a UDP port (the gateway, mailslot browse).
        case listenUDP(port: UInt16, address: IPv4Address)
        /// Receiving a local mailslot's greeting and the ring that comes with it.
        case receiveGreeting(MailslotName)
        /// Anything else: `what` says what could not be done.
        case other(String)
    }

    /// The error a failed system call gives in `operation`. The errno's own description (strerror) is made
    /// only for the errors that carry it.
    package init(_ error: Errno, _ operation: Operation) {
        switch (operation, error.code) {
        case (_, Errno.tooManyFiles), (_, Errno.fileTableFull):
            self.init(.tooManyOpenFiles, "\(operation.what): this process has no file descriptor left (\(error.code == Errno.tooManyFiles ? "its limit, ulimit -n, is reached" : "the system's file table is full")); close files it does not need or raise the limit, then try again", cause: error.cause)
        case (.publish(let name), Errno.addressInUse):
            self.init(.alreadyExists, "a mailslot named \(name) already exists on this machine (names are case-insensitive); choose another name or close the other server first")
        case (.reserveQueue(let quota), Errno.outOfMemory), (.reserveQueue(let quota), Errno.noSpace):
            self.init(.notEnoughMemory, "could not reserve \(quota) bytes for the mailslot's queue; use a smaller quota", cause: error.cause)
        case (.connect(let name, _), Errno.connectionRefused), (.connect(let name, _), Errno.noEntry):
            self.init(.fileNotFound, "no mailslot named \(name) exists on this machine; start its server first (mailslot listen '\(name)')")
        case (.connect(let name, let waited), Errno.again):
            self.init(.semTimeout, "the server of \(name) did not accept the connection within \(waited) ms; it may be stuck")
        case (.send(let name), Errno.brokenPipe), (.send(let name), Errno.connectionReset),
             (.send(let name), Errno.notConnected), (.send(let name), Errno.connectionRefused):
            self = .serverClosed(name)
        case (.listenUDP(let port, let address), Errno.addressInUse):
            self.init(.accessDenied, "cannot listen on UDP port \(port) at \(address): another process (nmbd or another mailslotd) owns it", cause: error.cause)
        case (.listenUDP(let port, let address), Errno.permissionDenied):
            self.init(.accessDenied, "cannot listen on UDP port \(port) at \(address): ports below 1024 need root or CAP_NET_BIND_SERVICE", cause: error.cause)
        case (.receiveGreeting(let name), _):
            self.init(.fileNotFound, "the server of \(name) closed the connection; it is shutting down", cause: error.cause)
        case (.listenUDP, _), (.publish, _), (.reserveQueue, _), (.connect, _), (.send, _), (.other, _):
            self.init(.generalFailure, "\(operation.what): \(error.message)", cause: error.cause)
        }
    }

    /// ERROR_BROKEN_PIPE: a write found the mailslot's server gone (closed, or died).
    package static func serverClosed(_ name: MailslotName) -> MailslotError {
        MailslotError(.brokenPipe, "the server of \(name) has closed the mailslot; the message was not delivered. Open the name again once a server has created it")
    }

    /// An unexpected system failure, with its errno as the cause.
    package static func system(_ what: String, _ error: Errno) -> MailslotError { MailslotError(error, .other(what)) }
}

extension MailslotError.Operation {
    /// What could not be done, as the start of a message.
    fileprivate var what: String {
        switch self {
        case .publish(let name): "could not publish the name of \(name)"
        case .reserveQueue: "could not create the mailslot's queue"
        case .connect(let name, _): "could not connect to \(name)"
        case .send(let name): "could not send to \(name)"
        case .listenUDP(let port, let address): "cannot listen on UDP port \(port) at \(address)"
        case .receiveGreeting(let name): "could not take the ring that the server of \(name) sent"
        case .other(let what): what
        }
    }
}

extension Errno {
    package var cause: MailslotError.SystemCause {
        MailslotError.SystemCause(call: call, errno: code, errnoDescription: message)
    }
}
