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
        /// Anything else: `what` says what could not be done.
        case other(String)
    }

    /// The error a failed system call gives in `operation`.
    package init(_ error: Errno, _ operation: Operation) {
        let cause = error.cause
        switch (operation, error.code) {
        case (.publish(let name), Errno.addressInUse):
            self.init(.alreadyExists, "a mailslot named \(name) already exists on this machine (names are case-insensitive); choose another name or close the other server first")
        case (.reserveQueue(let quota), Errno.outOfMemory), (.reserveQueue(let quota), Errno.noSpace):
            self.init(.notEnoughMemory, "could not reserve \(quota) bytes for the mailslot's queue; use a smaller quota", cause: cause)
        case (.connect(let name, _), Errno.connectionRefused), (.connect(let name, _), Errno.noEntry):
            self.init(.fileNotFound, "no mailslot named \(name) exists on this machine; start its server first (mailslot listen '\(name)')")
        case (.connect(let name, let waited), Errno.again):
            self.init(.semTimeout, "the server of \(name) did not accept the connection within \(waited) ms; it may be stuck")
        case (.send(let name), Errno.brokenPipe), (.send(let name), Errno.connectionReset),
             (.send(let name), Errno.notConnected), (.send(let name), Errno.connectionRefused):
            self = .serverClosed(name)
        case (.listenUDP(let port, let address), Errno.addressInUse):
            self.init(.accessDenied, "cannot listen on UDP port \(port) at \(address): another process (nmbd or another mailslotd) owns it", cause: cause)
        case (.listenUDP(let port, let address), Errno.permissionDenied):
            self.init(.accessDenied, "cannot listen on UDP port \(port) at \(address): ports below 1024 need root or CAP_NET_BIND_SERVICE", cause: cause)
        case (.listenUDP(let port, let address), _):
            self.init(.generalFailure, "cannot listen on UDP port \(port) at \(address): \(error.message)", cause: cause)
        case (.publish(let name), _):
            self.init(.generalFailure, "could not publish the name of \(name): \(error.message)", cause: cause)
        case (.reserveQueue, _):
            self.init(.generalFailure, "could not create the mailslot's queue: \(error.message)", cause: cause)
        case (.connect(let name, _), _):
            self.init(.generalFailure, "could not connect to \(name): \(error.message)", cause: cause)
        case (.send(let name), _):
            self.init(.generalFailure, "could not send to \(name): \(error.message)", cause: cause)
        case (.other(let what), _):
            self.init(.generalFailure, "\(what): \(error.message)", cause: cause)
        }
    }

    /// ERROR_BROKEN_PIPE: a write found the mailslot's server gone (closed, or died).
    package static func serverClosed(_ name: MailslotName) -> MailslotError {
        MailslotError(.brokenPipe, "the server of \(name) has closed the mailslot; the message was not delivered. Open the name again once a server has created it")
    }

    /// An unexpected system failure, with its errno as the cause.
    package static func system(_ what: String, _ error: Errno) -> MailslotError { MailslotError(error, .other(what)) }
}

extension Errno {
    package var cause: MailslotError.SystemCause {
        MailslotError.SystemCause(call: call, errno: code, errnoDescription: message)
    }
}
