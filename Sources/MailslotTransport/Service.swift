#if canImport(Glibc)
import Glibc
#endif
import CMailslotShim
import MailslotCore

/// What a daemon needs from the system: telling systemd how it is doing, and giving up root.
extension Sys {
    /// Sends `state` ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") to systemd's notification
    /// socket ($NOTIFY_SOCKET, as sd_notify(3) does). Returns false when there is none (not started by
    /// systemd with Type=notify) or the send failed.
    @discardableResult
    package static func notifySystemd(_ state: String, environment: [String: String] = Sys.environment) -> Bool {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty, path.utf8.count < 108 else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { _ = Glibc.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            if bytes.first == UInt8(ascii: "@") { raw[0] = 0 } // an abstract socket
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == message.count
    }

    /// A user's uid and primary gid, from the password database.
    package static func user(named name: String) -> (uid: UInt32, gid: UInt32)? {
        if let entry = getpwnam(name) { return (entry.pointee.pw_uid, entry.pointee.pw_gid) }
        if let uid = UInt32(name), let entry = getpwuid(uid) { return (entry.pointee.pw_uid, entry.pointee.pw_gid) }
        return nil
    }

    /// Becomes `user` keeping only CAP_NET_BIND_SERVICE (see `cms_drop_privileges`). Call before any thread starts.
    package static func dropPrivileges(to user: String) throws(MailslotError) {
        guard let (uid, gid) = Sys.user(named: user) else {
            throw MailslotError(.invalidParameter, "there is no user '\(user)'; create it (for example with systemd-sysusers or useradd --system \(user)) or name another")
        }
        guard cms_drop_privileges(uid, gid, 1) == 0 else {
            let e = Errno.current("drop privileges")
            throw MailslotError(e.code == EPERM ? .accessDenied : .generalFailure,
                                "could not become '\(user)' (only root can change to another user): \(e.message)", cause: e.cause)
        }
    }
}
