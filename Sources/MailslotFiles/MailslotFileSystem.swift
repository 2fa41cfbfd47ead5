#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotFuse
import Dispatch
import Logging
import Mailslot
import MailslotTransport

/// Mailslots as files: a FUSE file system in which every mailslot of this machine is a file, so that
/// any program reaches them with open, read, write, poll and close.
///
/// - `open(DIR/app/events, O_WRONLY)` is `CreateFile`: ENOENT when no server serves the name, EACCES when
///   the mailslot's access rule refuses the caller. Each `write(2)` is one message.
/// - `open(DIR/app/events, O_CREAT | O_EXCL | O_RDONLY, mode)` is `CreateMailslot` on the caller's behalf:
///   EEXIST when the name exists in any case. Each `read(2)` returns one whole message, oldest first;
///   the mailslot lives until that descriptor and its duplicates are closed.
/// - Every operation is checked against the mailslot's own rule with the caller's kernel-reported
///   credentials, never the file system's: the mount admits other users (`allow_other`, as root) and
///   does its own checks (no `default_permissions`, which would check the mode bits instead).
///
/// Lookups are case-insensitive and nothing is cached by the kernel (entry and attribute timeouts are
/// 0): mailslots come and go with their servers.
package final class MailslotFileSystem: @unchecked Sendable {
    package struct Options: Sendable {
        /// The folder to mount on.
        package var mountPoint: String
        /// Whether other users may use the mount (needs root, or `user_allow_other` in /etc/fuse.conf).
        package var allowOther: Bool
        /// The read timeout of mailslots created through files: how long a blocking `read(2)` waits.
        package var readTimeout: MailslotTimeout
        /// Threads taking requests from the kernel.
        package var threads: Int
        package var logger: Logger

        package init(mountPoint: String, allowOther: Bool = Sys.isRoot, readTimeout: MailslotTimeout = .forever, threads: Int = 4,
                     logger: Logger = Logger(label: "mailslot.files", factory: { _ in SwiftLogNoOpLogHandler() })) {
            self.mountPoint = mountPoint
            self.allowOther = allowOther
            self.readTimeout = readTimeout
            self.threads = threads
            self.logger = logger
        }
    }

    /// The largest message a `write(2)` carries, and the maximum message size of mailslots created through
    /// files: the kernel hands the file system one write(2) as one request only while its buffer spans at
    /// most 256 pages (1 MiB), which any buffer up to 1 MiB - 4095 bytes does whatever its alignment. A
    /// request this large or larger may be the first piece of a longer write, so it is refused whole.
    package static let largestMessage = 1_044_480

    /// The file types of `st_mode` (S_IFREG, S_IFDIR: Glibc's macros import ambiguously).
    static let regularFile: mode_t = 0o100000
    static let directory: mode_t = 0o040000

    package let options: Options

    /// The loaded libfuse's version ("3.14.0").
    package static var libraryVersion: String { FuseChannel.libraryVersion }
    private var channel: FuseChannel?
    let state = Locked(State())
    private let pollWatcher: PollWatcher

    var logger: Logger { options.logger }

    /// Mounts the file system (it serves once ``start()`` is called). Throws ERROR_NOT_SUPPORTED (50) when
    /// libfuse3 is missing, saying what to install.
    package init(_ options: Options) throws(MailslotError) {
        self.options = options
        pollWatcher = try PollWatcher()
        var mountOptions = ["fsname=mailslot", "subtype=mailslot"]
        if options.allowOther { mountOptions.append("allow_other") }
        channel = try FuseChannel(mountPoint: options.mountPoint, options: mountOptions, operations: MailslotFileSystem.operations,
                                  userdata: Unmanaged.passUnretained(self).toOpaque(), logger: options.logger)
        logger.info("mailslot file system mounted", metadata: ["mount": "\(options.mountPoint)", "libfuse": "\(FuseChannel.libraryVersion)",
                                                            "allow_other": "\(options.allowOther)"])
    }

    deinit { stop() }

    /// Starts serving requests.
    package func start() throws(MailslotError) {
        try channel?.start(threads: options.threads)
        pollWatcher.start(self)
    }

    /// Blocks until the file system stops: after ``stop()``, or when someone unmounts the folder.
    package func wait() {
        channel?.wait()
    }

    /// Stops serving, answers every request still waiting (EINTR), closes every mailslot created through
    /// files and unmounts. Idempotent; a second caller (a signal's thread and the main thread, say) waits
    /// until the first has finished, so that nobody exits with the mount still there.
    package func stop() {
        stopping.withLock { done in
            guard !done else { return }
            done = true
            guard let channel else { return }
            state.withLock { $0.stopping = true }
            channel.stop()
            pollWatcher.stop()
            // Reads still waiting: their tasks answer EINTR once cancelled; wait for them (bounded).
            let servers = state.withLock { $0.handles.values.compactMap { $0.server } }
            servers.forEach { $0.cancelAll() }
            let deadline = ContinuousClock.now + .seconds(5)
            while servers.contains(where: { $0.pendingCount > 0 }), ContinuousClock.now < deadline { usleep(1_000) }
            let handles = state.withLock { state in defer { state.handles.removeAll() }; return state.handles.values }
            for handle in handles { handle.close() }
            channel.unmount()
        }
    }

    private let stopping = Locked(false)

    // MARK: nodes

    /// A node the kernel knows: the root, a path level, or a mailslot.
    struct Node {
        /// The path as written (`app\events`); "" for the root.
        var path: String
        var key: String
        var isDirectory: Bool
        /// The kernel's references (lookups not yet forgotten).
        var lookups: UInt64
    }

    /// An open file.
    enum Handle {
        case writer(WriterHandle)
        case server(ServerHandle)

        var server: ServerHandle? { if case .server(let s) = self { return s }; return nil }
        func close() {
            switch self {
            case .writer(let w): w.writer.close()
            case .server(let s): s.close()
            }
        }
    }

    struct State {
        var nodes: [UInt64: Node] = [UInt64(CMF_FUSE_ROOT_ID): Node(path: "", key: "", isDirectory: true, lookups: 1)]
        /// Path levels made with mkdir (by key): they exist without a mailslot below them.
        var directories: [String: String] = [:]
        var handles: [UInt64: Handle] = [:]
        var nextHandle: UInt64 = 1
        var stopping = false
        /// The user each mailslot created through files was created for (by key).
        var creators: [String: UInt32] = [:]
    }

    /// A node's inode number: a hash of its kind and key, so that the same mailslot keeps its number
    /// across lookups and listings without a table of every name ever seen.
    static func inode(key: String, isDirectory: Bool) -> UInt64 {
        guard !key.isEmpty || !isDirectory else { return UInt64(CMF_FUSE_ROOT_ID) }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array((isDirectory ? "D:" : "F:").utf8) + Array(key.utf8) { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash < 2 ? hash + 2 : hash
    }

    func node(_ ino: UInt64) -> Node? { state.withLock { $0.nodes[ino] } }

    /// Records a reference the kernel takes (a lookup or create reply) and returns the node's number.
    func remember(_ path: String, key: String, isDirectory: Bool) -> UInt64 {
        let ino = MailslotFileSystem.inode(key: key, isDirectory: isDirectory)
        state.withLock { state in
            state.nodes[ino, default: Node(path: path, key: key, isDirectory: isDirectory, lookups: 0)].lookups += 1
        }
        return ino
    }

    func forget(_ ino: UInt64, _ count: UInt64) {
        guard ino != UInt64(CMF_FUSE_ROOT_ID) else { return }
        state.withLock { state in
            guard var node = state.nodes[ino] else { return }
            node.lookups = node.lookups > count ? node.lookups - count : 0
            state.nodes[ino] = node.lookups == 0 ? nil : node
        }
    }

    /// The mailslot name for `name` inside `parent`; nil with the errno to answer when it is not one.
    func childName(_ parent: Node, _ name: String) -> Result<MailslotName, FileError> {
        guard parent.isDirectory else { return .failure(.init(ENOTDIR)) }
        guard !name.contains("\\"), !name.isEmpty else { return .failure(.init(ENOENT)) }
        do throws(MailslotError) {
            return .success(try MailslotName(local: parent.path.isEmpty ? name : parent.path + "\\" + name))
        } catch {
            return .failure(.init(error.code == .filenameExceedsRange ? ENAMETOOLONG : ENOENT))
        }
    }

    /// A path level exists when it was made with mkdir or a mailslot lives below it.
    func directoryExists(_ key: String) -> Bool {
        state.withLock { $0.directories[key] != nil } || LocalDirectory.hasMailslot(under: key)
    }

    /// The live mailslot of that name, with the owner to show: the creator for one made through files,
    /// else the kernel's word on its server (SO_PEERCRED).
    func mailslot(_ name: MailslotName) -> MailslotDirectoryEntry? {
        guard var entry = LocalDirectory.entry(for: name) else { return nil }
        if let creator = state.withLock({ $0.creators[name.key] }) { entry.ownerUID = creator }
        return entry
    }

    // MARK: attributes

    static func attributes(of entry: MailslotDirectoryEntry, ino: UInt64) -> stat {
        var st = stat()
        st.st_ino = __ino_t(ino)
        st.st_nlink = 1
        st.st_uid = entry.ownerUID
        // The mode says who may write: the owner, the group, everyone (only the creator reads).
        switch entry.access {
        case .owner:
            st.st_mode = MailslotFileSystem.regularFile | 0o200
            st.st_gid = Sys.user(named: String(entry.ownerUID))?.gid ?? 0
        case .group(let gid):
            st.st_mode = MailslotFileSystem.regularFile | 0o220
            st.st_gid = gid
        case .everyone:
            st.st_mode = MailslotFileSystem.regularFile | 0o222
            st.st_gid = Sys.user(named: String(entry.ownerUID))?.gid ?? 0
        }
        let created = timespec(tv_sec: Int(entry.createdNanoseconds / 1_000_000_000), tv_nsec: Int(entry.createdNanoseconds % 1_000_000_000))
        st.st_atim = created
        st.st_mtim = created
        st.st_ctim = created
        st.st_blksize = 4096
        return st
    }

    static func directoryAttributes(ino: UInt64) -> stat {
        var st = stat()
        st.st_ino = __ino_t(ino)
        st.st_nlink = 2
        // Anyone may create a mailslot in any path level (as on Windows); the sticky bit says that names
        // belong to whoever created them.
        st.st_mode = MailslotFileSystem.directory | 0o1777
        st.st_blksize = 4096
        return st
    }

    /// The attributes of a node, or the errno when it is gone.
    func attributes(_ ino: UInt64) -> Result<stat, FileError> {
        guard let node = node(ino) else { return .failure(.init(ENOENT)) }
        if node.isDirectory { return .success(MailslotFileSystem.directoryAttributes(ino: ino)) }
        guard let name = try? MailslotName(local: node.path), let entry = mailslot(name) else { return .failure(.init(ENOENT)) }
        return .success(MailslotFileSystem.attributes(of: entry, ino: ino))
    }

    // MARK: handles

    func addHandle(_ handle: Handle) -> UInt64 {
        state.withLock { state in
            defer { state.nextHandle += 1 }
            state.handles[state.nextHandle] = handle
            return state.nextHandle
        }
    }

    func handle(_ fh: UInt64) -> Handle? { state.withLock { $0.handles[fh] } }

    func removeHandle(_ fh: UInt64) -> Handle? {
        state.withLock { state in
            let handle = state.handles.removeValue(forKey: fh)
            if case .server(let s) = handle { state.creators[s.server.name.key] = nil }
            return handle
        }
    }

    func recordCreator(_ key: String, _ uid: UInt32) { state.withLock { $0.creators[key] = uid } }

    /// Servers with a poller waiting, for the poll watcher.
    var serversWithPollers: [ServerHandle] {
        state.withLock { $0.handles.values.compactMap { $0.server }.filter { $0.hasPoller } }
    }

    func pollerArrived() { pollWatcher.wake() }
}

/// An errno to answer a request with.
struct FileError: Error {
    var errno: Int32
    init(_ errno: Int32) { self.errno = errno }

    /// The errno a mailslot error means to a program using files.
    init(_ error: MailslotError) {
        switch error.code {
        case .fileNotFound, .pathNotFound: errno = ENOENT
        case .accessDenied: errno = EACCES
        case .alreadyExists: errno = EEXIST
        case .invalidName: errno = EINVAL
        case .filenameExceedsRange: errno = ENAMETOOLONG
        case .messageExceedsMaxSize, .notEnoughQuota, .insufficientBuffer: errno = EMSGSIZE
        case .semTimeout: errno = ETIMEDOUT
        case .brokenPipe: errno = EPIPE
        case .invalidHandle: errno = EBADF
        case .operationAborted: errno = EINTR
        case .tooManyOpenFiles: errno = EMFILE
        case .noSystemResources, .notEnoughMemory: errno = ENOMEM
        case .invalidParameter: errno = EINVAL
        default: errno = EIO
        }
    }
}
