#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotFuse
import Logging
import MailslotCore

/// One FUSE mount, served through libfuse3's low-level API (loaded at run time: `CMailslotFuse`): the
/// mount and unmount, the threads that take the kernel's requests and hand them to the operations, and
/// the clean-up of a mount that a killed process left behind. What the operations mean belongs to the
/// file system above; this is the transport's part of it, the only one that talks to `/dev/fuse`.
///
/// Life: ``init(mountPoint:options:operations:userdata:logger:)`` mounts; ``start(threads:)`` serves;
/// ``stop()`` ends the threads (the caller then answers the requests it still holds); ``unmount()``
/// detaches the mount and frees the session. After ``unmount()`` no reply may be sent.
///
/// `@unchecked Sendable`: the session pointer is used from the serving threads at once, which libfuse
/// allows (its receive, process and reply calls lock what they share); the phase and the thread list are
/// behind locks.
package final class FuseChannel: @unchecked Sendable {
    /// The operations table: kept alive as long as the session that copied it.
    private let session: OpaquePointer
    package let mountPoint: String
    private let wakeFD: FD
    private let threads = Locked<[ThreadHandle]>([])
    private let state = Locked<Phase>(.mounted)
    private let logger: Logger

    private enum Phase { case mounted, serving, stopped, unmounted }

    /// Loads libfuse3; throws ERROR_NOT_SUPPORTED (50) with what to install when it is missing.
    package static func loadLibrary() throws(MailslotError) {
        var message = [CChar](repeating: 0, count: 512)
        guard cmf_load(&message, message.count) == 0 else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw MailslotError(.notSupported, "mailslots as files need libfuse3, which this machine lacks: \(text) (apt-get install fuse3)")
        }
    }

    /// The loaded libfuse's version ("3.14.0").
    package static var libraryVersion: String { cmf_pkgversion().map { String(cString: $0) } ?? "?" }

    /// Mounts a file system at `mountPoint`, whose requests ``start(threads:)`` will hand to `operations`
    /// with `userdata`. `options` are libfuse's `-o` options (`allow_other`, `fsname=`, ...). A mount
    /// left at `mountPoint` by a killed process is detached first.
    package init(mountPoint: String, options: [String], operations: UnsafePointer<cmf_fuse_lowlevel_ops>,
                 userdata: UnsafeMutableRawPointer?, logger: Logger) throws(MailslotError) {
        try FuseChannel.loadLibrary()
        self.mountPoint = mountPoint
        self.logger = logger
        try FuseChannel.prepare(mountPoint, logger: logger)
        // libfuse's diagnostics ("fuse: ...") go to the log, not to standard error.
        cmf_set_log_handler { _, message in
            FuseChannel.libraryLog.withLock { $0?.warning("libfuse: \(String(cString: message))") }
        }
        FuseChannel.libraryLog.withLock { $0 = logger }
        var argv: [UnsafeMutablePointer<CChar>?] = (["mailslot", "-o", options.joined(separator: ",")]).map { $0.withCString { strdup($0) } } + [nil]
        defer { argv.forEach { free($0) } }
        let made: OpaquePointer? = argv.withUnsafeMutableBufferPointer { vector in
            var args = cmf_fuse_args(argc: Int32(vector.count - 1), argv: vector.baseAddress, allocated: 0)
            defer { cmf_opt_free_args(&args) }
            return cmf_session_new(&args, operations, userdata)
        }
        guard let made else {
            throw MailslotError(.invalidParameter, "libfuse refused the mount options \(options.joined(separator: ",")) (see the log)")
        }
        guard cmf_session_mount(made, mountPoint) == 0 else {
            cmf_session_destroy(made)
            throw MailslotError(.accessDenied, "could not mount the mailslot file system at \(mountPoint): \(Sys.isRoot ? "see the log" : "mounting as a user needs /dev/fuse open to users (mode 0666, as Debian's udev sets it), fusermount3 (apt-get install fuse3) and a folder of your own")")
        }
        session = made
        let fd = cmf_session_fd(made)
        do throws(Errno) {
            try Sys.setNonBlocking(fd, true) // the threads poll it with the wake-up descriptor
            wakeFD = try Sys.eventFD()
        } catch {
            cmf_session_unmount(made)
            cmf_session_destroy(made)
            throw MailslotError.system("could not set up the mount's descriptors", error)
        }
    }

    private static let libraryLog = Locked<Logger?>(nil)

    deinit {
        stop()
        unmount()
        Sys.close(wakeFD)
    }

    /// Starts `count` threads that take requests from the kernel and run the operations on them.
    package func start(threads count: Int) throws(MailslotError) {
        guard state.withLock({ phase in
            guard phase == .mounted else { return false }
            phase = .serving
            return true
        }) else { return }
        for index in 0..<max(1, count) {
            do throws(Errno) {
                let thread = try Sys.startThread { [self] in serve(index) }
                threads.withLock { $0.append(thread) }
            } catch {
                stop()
                throw MailslotError.system("could not start the file system's threads", error)
            }
        }
    }

    /// One serving thread: poll the FUSE descriptor with the wake-up one, take one request, process it.
    private func serve(_ index: Int) {
        var buffer = cmf_fuse_buf()
        defer { free(buffer.mem) }
        let fd = cmf_session_fd(session)
        while true {
            let ready = Sys.pollMany([fd, wakeFD], timeoutMilliseconds: -1)
            if ready.contains(wakeFD) { return }
            if ready.isEmpty { continue }
            let n = cmf_session_receive_buf(session, &buffer)
            if n == -EAGAIN || n == -EINTR { continue } // another thread took it
            if n <= 0 {
                if n < 0 { logger.warning("the file system's connection failed", metadata: ["thread": "\(index)", "errno": "\(-n)"]) }
                // Unmounted from outside (umount, fusermount3 -u), or the kernel ended the connection.
                Sys.signalEventFD(wakeFD)
                return
            }
            cmf_session_process_buf(session, &buffer)
        }
    }

    /// Whether the kernel ended the connection (someone unmounted the folder).
    package var ended: Bool { cmf_session_exited(session) != 0 }

    /// Waits until serving ends: ``stop()`` was called, or the mount went away from outside (the serving
    /// threads then signal the same descriptor). The threads are joined by ``stop()``, not here.
    package func wait() {
        while Sys.pollMany([wakeFD], timeoutMilliseconds: -1).isEmpty {}
    }

    /// Ends the serving threads (from any thread but theirs). Requests held for a later reply must then
    /// be answered before ``unmount()``.
    package func stop() {
        let running: [ThreadHandle] = state.withLock { phase in
            guard phase == .serving || phase == .mounted else { return [] }
            phase = .stopped
            return threads.withLock { list in defer { list.removeAll() }; return list }
        }
        Sys.signalEventFD(wakeFD)
        for thread in running where !Sys.isCurrentThread(thread) { Sys.join(thread) }
    }

    /// Detaches the mount and frees the session (after ``stop()`` and every held request answered).
    package func unmount() {
        let mounted = state.withLock { phase in
            defer { phase = .unmounted }
            return phase != .unmounted
        }
        guard mounted else { return }
        cmf_session_exit(session)
        cmf_session_unmount(session)
        cmf_session_destroy(session)
        logger.info("mailslot file system unmounted", metadata: ["mount": "\(mountPoint)"])
    }

    // MARK: the mount point

    /// Makes sure `path` can be mounted on: it exists and is a folder, and a mount a killed process left
    /// there ("transport endpoint is not connected") is detached. A live mailslot file system there is an
    /// error (183).
    static func prepare(_ path: String, logger: Logger) throws(MailslotError) {
        var st = stat()
        if stat(path, &st) != 0 {
            let code = errno
            guard code == ENOTCONN else {
                throw MailslotError(code == ENOENT ? .pathNotFound : .accessDenied,
                                    "cannot mount on \(path): \(String(cString: strerror(code))); give an existing folder")
            }
            logger.warning("a mailslot file system left behind by a process that was killed was mounted at \(path); detaching it")
            try detachStaleMount(path)
            guard stat(path, &st) == 0 else {
                throw MailslotError(.accessDenied, "the stale mount at \(path) could not be detached: \(String(cString: strerror(errno)))")
            }
        } else if isMailslotMount(path) {
            throw MailslotError(.alreadyExists, "\(path) is already a mailslot file system served by a running process; unmount it first (fusermount3 -u \(path))")
        }
        guard st.st_mode & 0o170000 == 0o040000 else { // S_ISDIR
            throw MailslotError(.invalidParameter, "cannot mount on \(path): it is not a folder")
        }
    }

    /// Whether `path` is the mount point of a mailslot file system (fstype fuse.mailslot in mountinfo).
    static func isMailslotMount(_ path: String) -> Bool {
        guard let table = Sys.readFile("/proc/self/mountinfo") else { return false }
        let resolved = realpath(path, nil).map { pointer in defer { free(pointer) }; return String(cString: pointer) } ?? path
        for line in String(decoding: table, as: UTF8.self).split(separator: "\n") {
            // id parent major:minor root mount-point options ... - fstype source super-options
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            if unescapeMountPath(String(fields[4])) == resolved, fields[dash + 1] == "fuse.mailslot" { return true }
        }
        return false
    }

    /// mountinfo writes space, tab, newline and backslash in paths as octal escapes.
    private static func unescapeMountPath(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let first = utf8.first {
            if first == UInt8(ascii: "\\"), utf8.count >= 4, let value = UInt8(String(decoding: utf8.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(4)
            } else {
                bytes.append(first)
                utf8 = utf8.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Detaches a dead mount: umount2(MNT_DETACH) as root, `fusermount3 -u -z` as a user.
    private static func detachStaleMount(_ path: String) throws(MailslotError) {
        if Sys.isRoot {
            guard umount2(path, Int32(MNT_DETACH)) == 0 else {
                throw MailslotError(.accessDenied, "could not detach the stale mount at \(path): \(String(cString: strerror(errno)))")
            }
            return
        }
        let status = Sys.runProgram("fusermount3", ["-u", "-z", path])
        guard status == 0 else {
            throw MailslotError(.accessDenied, "could not detach the stale mount at \(path) (fusermount3 -u -z exited with \(status)); run it by hand")
        }
    }
}

/// Who made a FUSE request, as the kernel reports it: never what the caller says about itself.
package struct FuseCaller: Sendable {
    package var uid: UInt32
    package var gid: UInt32
    /// The calling thread's id (0 when it is not visible in this pid namespace).
    package var pid: Int32
    /// The primary group and the supplementary groups.
    package var groups: [UInt32]
    /// The caller's umask (for create).
    package var umask: UInt32

    /// The caller of `request` (supplementary groups from `/proc/TID/task/TID/status`, through libfuse).
    package init(_ request: OpaquePointer) {
        let context = cmf_req_ctx(request).pointee
        uid = context.uid
        gid = context.gid
        pid = context.pid
        umask = context.umask
        var list = [gid_t](repeating: 0, count: 64)
        var count = Int(cmf_req_getgroups(request, Int32(list.count), &list))
        if count > list.count {
            list = [gid_t](repeating: 0, count: count)
            count = Int(cmf_req_getgroups(request, Int32(list.count), &list))
        }
        groups = [context.gid] + (count > 0 ? Array(list.prefix(count)) : [])
    }
}
