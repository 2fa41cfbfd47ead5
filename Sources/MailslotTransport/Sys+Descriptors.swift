// Descriptors: closing, flags, duplicating, files.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim
import MailslotCore

extension Sys {
    // MARK: descriptors

    package static func close(_ fd: FD) { _ = Glibc.close(fd) }

    package static func setCloseOnExec(_ fd: FD, _ on: Bool) throws(Errno) {
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0 else { throw .current("fcntl(F_GETFD)") }
        let new = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC)
        guard fcntl(fd, F_SETFD, new) == 0 else { throw .current("fcntl(F_SETFD)") }
    }

    package static func setNonBlocking(_ fd: FD, _ on: Bool) throws(Errno) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { throw .current("fcntl(F_GETFL)") }
        let new = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK)
        guard fcntl(fd, F_SETFL, new) == 0 else { throw .current("fcntl(F_SETFL)") }
    }

    package static func duplicate(_ fd: FD) throws(Errno) -> FD {
        let r = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard r >= 0 else { throw .current("fcntl(F_DUPFD_CLOEXEC)") }
        return r
    }

    package static func isValid(_ fd: FD) -> Bool { fcntl(fd, F_GETFD) >= 0 }
}
