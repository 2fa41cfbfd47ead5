#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotFuse
import Mailslot
import MailslotTransport

/// The FUSE operations: what each file call means for mailslots. Every callback finds the file system
/// through the request's userdata and answers exactly once (now, or later for reads and full writes).
extension MailslotFileSystem {
    /// The operations table libfuse copies when the session is made; written once, read only by libfuse.
    nonisolated(unsafe) static let operations: UnsafeMutablePointer<cmf_fuse_lowlevel_ops> = {
        let ops = UnsafeMutablePointer<cmf_fuse_lowlevel_ops>.allocate(capacity: 1)
        ops.initialize(to: cmf_fuse_lowlevel_ops())
        ops.pointee.lookup = { req, parent, name in of(req).lookup(req, parent, String(cString: name)) }
        ops.pointee.forget = { req, ino, count in
            of(req).forget(ino, count)
            cmf_reply_none(req)
        }
        ops.pointee.forget_multi = { req, count, forgets in
            let fileSystem = of(req)
            for i in 0..<count { fileSystem.forget(forgets[i].ino, forgets[i].nlookup) }
            cmf_reply_none(req)
        }
        ops.pointee.getattr = { req, ino, _ in
            switch of(req).attributes(ino) {
            case .success(var st): cmf_reply_attr(req, &st, 0)
            case .failure(let error): cmf_reply_err(req, error.errno)
            }
        }
        ops.pointee.setattr = { req, ino, _, toSet, _ in of(req).setAttributes(req, ino, toSet) }
        ops.pointee.unlink = { req, _, _ in cmf_reply_err(req, EPERM) } // a mailslot goes when its server closes it
        ops.pointee.mkdir = unsafeBitCast(makeDirectory, to: UnsafeMutableRawPointer.self)
        ops.pointee.rmdir = unsafeBitCast(removeDirectory, to: UnsafeMutableRawPointer.self)
        ops.pointee.open = { req, ino, fi in of(req).open(req, ino, fi) }
        ops.pointee.create = { req, parent, name, mode, fi in of(req).create(req, parent, String(cString: name), mode, fi) }
        ops.pointee.read = { req, _, size, _, fi in
            guard case .server(let handle) = of(req).handle(fi.pointee.fh) else {
                cmf_reply_err(req, EBADF)
                return
            }
            handle.read(Request(raw: req), size: size, nonBlocking: fi.pointee.flags & O_NONBLOCK != 0)
        }
        ops.pointee.write = { req, _, buffer, size, _, fi in
            guard case .writer(let handle) = of(req).handle(fi.pointee.fh) else {
                cmf_reply_err(req, EBADF)
                return
            }
            handle.write(Request(raw: req), UnsafeRawBufferPointer(start: buffer, count: size))
        }
        ops.pointee.release = { req, _, fi in
            let handle = of(req).removeHandle(fi.pointee.fh)
            handle?.server?.dropPoller()
            handle?.close()
            cmf_reply_err(req, 0)
        }
        ops.pointee.opendir = { req, ino, fi in
            guard of(req).node(ino)?.isDirectory == true else {
                cmf_reply_err(req, ENOTDIR)
                return
            }
            cmf_reply_open(req, fi)
        }
        ops.pointee.readdir = { req, ino, size, offset, _ in of(req).readDirectory(req, ino, size, offset) }
        ops.pointee.releasedir = { req, _, _ in cmf_reply_err(req, 0) }
        ops.pointee.poll = { req, _, fi, ph in
            let fileSystem = of(req) // before the reply, which frees the request
            switch fileSystem.handle(fi.pointee.fh) {
            case .server(let handle):
                handle.poll(Request(raw: req), ph)
                fileSystem.pollerArrived()
            case .writer:
                if let ph { cmf_pollhandle_destroy(ph) }
                cmf_reply_poll(req, UInt32(POLLOUT | POLLWRNORM))
            case nil:
                if let ph { cmf_pollhandle_destroy(ph) }
                cmf_reply_err(req, EBADF)
            }
        }
        return ops
    }()

    // The two directory operations the shim declares as untyped slots (their layouts are not used
    // elsewhere): C functions with libfuse's prototypes.
    private static let makeDirectory: @convention(c) (OpaquePointer, cmf_fuse_ino_t, UnsafePointer<CChar>, mode_t) -> Void = { req, parent, name, _ in
        of(req).makeDirectory(req, parent, String(cString: name))
    }
    private static let removeDirectory: @convention(c) (OpaquePointer, cmf_fuse_ino_t, UnsafePointer<CChar>) -> Void = { req, parent, name in
        of(req).removeDirectory(req, parent, String(cString: name))
    }

    /// The file system a request belongs to (its session's userdata).
    static func of(_ req: OpaquePointer) -> MailslotFileSystem {
        Unmanaged<MailslotFileSystem>.fromOpaque(cmf_req_userdata(req)!).takeUnretainedValue()
    }

    // MARK: names

    /// Nothing is cached by the kernel: a mailslot comes and goes with its server, at any time.
    static func entry(_ ino: UInt64, _ st: stat) -> cmf_fuse_entry_param {
        cmf_fuse_entry_param(ino: ino, generation: 0, attr: st, attr_timeout: 0, entry_timeout: 0)
    }

    func lookup(_ req: OpaquePointer, _ parentIno: UInt64, _ name: String) {
        guard let parent = node(parentIno) else { return reply(req, ENOENT) }
        let mailslotName: MailslotName
        switch childName(parent, name) {
        case .success(let parsed): mailslotName = parsed
        case .failure(let error): return reply(req, error.errno)
        }
        if let found = mailslot(mailslotName) {
            let ino = remember(found.name.path, key: found.name.key, isDirectory: false)
            var entry = MailslotFileSystem.entry(ino, MailslotFileSystem.attributes(of: found, ino: ino))
            if cmf_reply_entry(req, &entry) != 0 { forget(ino, 1) }
        } else if directoryExists(mailslotName.key) {
            let ino = remember(mailslotName.path, key: mailslotName.key, isDirectory: true)
            var entry = MailslotFileSystem.entry(ino, MailslotFileSystem.directoryAttributes(ino: ino))
            if cmf_reply_entry(req, &entry) != 0 { forget(ino, 1) }
        } else {
            reply(req, ENOENT)
        }
    }

    func reply(_ req: OpaquePointer, _ errno: Int32) { cmf_reply_err(req, errno) }

    /// chmod, chown and the like change nothing a mailslot has (EPERM); a truncation (`>` in a shell
    /// opens with O_TRUNC) and time changes (touch) are accepted and change nothing either.
    func setAttributes(_ req: OpaquePointer, _ ino: UInt64, _ toSet: Int32) {
        let harmless = CMF_SET_ATTR_SIZE | CMF_SET_ATTR_ATIME | CMF_SET_ATTR_MTIME | CMF_SET_ATTR_ATIME_NOW | CMF_SET_ATTR_MTIME_NOW | CMF_SET_ATTR_CTIME
        guard toSet & ~harmless == 0 else { return reply(req, EPERM) }
        switch attributes(ino) {
        case .success(var st): cmf_reply_attr(req, &st, 0)
        case .failure(let error): reply(req, error.errno)
        }
    }

    func makeDirectory(_ req: OpaquePointer, _ parentIno: UInt64, _ name: String) {
        guard let parent = node(parentIno) else { return reply(req, ENOENT) }
        let path: MailslotName
        switch childName(parent, name) {
        case .success(let parsed): path = parsed
        case .failure(let error): return reply(req, error.errno == ENOENT ? EINVAL : error.errno)
        }
        if mailslot(path) != nil || directoryExists(path.key) { return reply(req, EEXIST) }
        let created = state.withLock { state -> Bool in
            guard state.directories.count < 4096 else { return false }
            state.directories[path.key] = path.path
            return true
        }
        guard created else { return reply(req, ENOSPC) }
        let ino = remember(path.path, key: path.key, isDirectory: true)
        var entry = MailslotFileSystem.entry(ino, MailslotFileSystem.directoryAttributes(ino: ino))
        if cmf_reply_entry(req, &entry) != 0 { forget(ino, 1) }
    }

    func removeDirectory(_ req: OpaquePointer, _ parentIno: UInt64, _ name: String) {
        guard let parent = node(parentIno) else { return reply(req, ENOENT) }
        guard case .success(let path) = childName(parent, name) else { return reply(req, ENOENT) }
        if LocalDirectory.hasMailslot(under: path.key) { return reply(req, ENOTEMPTY) }
        let removed = state.withLock { state -> Bool in
            guard state.directories[path.key] != nil else { return false }
            if state.directories.keys.contains(where: { $0.hasPrefix(path.key + "\\") }) { return false }
            state.directories[path.key] = nil
            return true
        }
        reply(req, removed ? 0 : (state.withLock { $0.directories[path.key] != nil } ? ENOTEMPTY : ENOENT))
    }

    // MARK: opening

    /// open(2) of an existing mailslot: for writing, as its access rule allows the caller.
    func open(_ req: OpaquePointer, _ ino: UInt64, _ fi: UnsafeMutablePointer<cmf_fuse_file_info>) {
        guard let node = node(ino) else { return reply(req, ENOENT) }
        if node.isDirectory { return reply(req, EISDIR) }
        // Only the server reads a mailslot: its descriptor is the one open(O_CREAT | O_EXCL) returned.
        guard fi.pointee.flags & O_ACCMODE == O_WRONLY else { return reply(req, EACCES) }
        guard let name = try? MailslotName(local: node.path) else { return reply(req, ENOENT) }
        openWriter(req, name, fi) { fh in
            MailslotFileSystem.configure(fi, fh)
            cmf_reply_open(req, fi)
        }
    }

    /// Opens a writer of `name` for the caller of `req`, after checking the mailslot's access rule against
    /// the caller's kernel-reported credentials; calls `opened` with the new handle, or answers the error.
    func openWriter(_ req: OpaquePointer, _ name: MailslotName, _ fi: UnsafeMutablePointer<cmf_fuse_file_info>, opened: (UInt64) -> Void) {
        guard let found = mailslot(name) else { return reply(req, ENOENT) }
        let caller = FuseCaller(req)
        guard found.access.permits(uid: caller.uid, groups: caller.groups, ownerUID: found.ownerUID) else {
            logger.debug("a writer was refused by the mailslot's access rule", metadata: ["mailslot": "\(name)", "uid": "\(caller.uid)", "pid": "\(caller.pid)"])
            return reply(req, EACCES)
        }
        let writer: MailslotWriter
        do throws(MailslotError) {
            writer = try MailslotWriter(opening: name)
        } catch {
            return reply(req, FileError(error).errno)
        }
        opened(addHandle(.writer(WriterHandle(writer))))
    }

    /// open(2) with O_CREAT of a name that does not exist: with O_RDONLY it creates the mailslot for the
    /// caller (CreateMailslot); for writing there is no server, so ENOENT.
    func create(_ req: OpaquePointer, _ parentIno: UInt64, _ name: String, _ mode: mode_t,
                _ fi: UnsafeMutablePointer<cmf_fuse_file_info>) {
        guard let parent = node(parentIno) else { return reply(req, ENOENT) }
        let mailslotName: MailslotName
        switch childName(parent, name) {
        case .success(let parsed): mailslotName = parsed
        case .failure(let error): return reply(req, error.errno == ENOENT ? EINVAL : error.errno)
        }
        switch fi.pointee.flags & O_ACCMODE {
        case O_RDONLY: break
        case O_WRONLY:
            // Created by another process since the kernel's lookup: open it as a writer after all.
            return openWriter(req, mailslotName, fi) { fh in
                replyCreated(req, mailslotName, fh, fi)
            }
        default:
            return reply(req, EINVAL) // a mailslot handle is one-way: a reader or a writer
        }
        let caller = FuseCaller(req)
        // Write permission in the mode says who may write: the group (the caller's), or everyone.
        let access: WriterAccess = mode & 0o002 != 0 ? .everyone : mode & 0o020 != 0 ? .group(caller.gid) : .owner
        var serverOptions = MailslotServer.Options(access: access, logger: logger)
        serverOptions.ownerUID = caller.uid
        let server: MailslotServer
        do throws(MailslotError) {
            server = try MailslotServer(name: mailslotName, maxMessageSize: UInt32(MailslotFileSystem.largestMessage),
                                        readTimeout: options.readTimeout, options: serverOptions)
        } catch {
            return reply(req, FileError(error).errno)
        }
        recordCreator(mailslotName.key, caller.uid)
        logger.debug("mailslot created through a file", metadata: ["mailslot": "\(mailslotName)", "uid": "\(caller.uid)", "access": "\(access)"])
        replyCreated(req, mailslotName, addHandle(.server(ServerHandle(server))), fi)
    }

    private func replyCreated(_ req: OpaquePointer, _ name: MailslotName, _ fh: UInt64, _ fi: UnsafeMutablePointer<cmf_fuse_file_info>) {
        let ino = remember(name.path, key: name.key, isDirectory: false)
        let st = mailslot(name).map { MailslotFileSystem.attributes(of: $0, ino: ino) } ?? {
            var st = stat()
            st.st_ino = __ino_t(ino)
            st.st_mode = MailslotFileSystem.regularFile | 0o200
            st.st_nlink = 1
            return st
        }()
        var entry = MailslotFileSystem.entry(ino, st)
        MailslotFileSystem.configure(fi, fh)
        if cmf_reply_create(req, &entry, fi) != 0 {
            forget(ino, 1)
            removeHandle(fh)?.close()
        }
    }

    /// Every mailslot file bypasses the page cache (one write(2), one request; one read(2), one message)
    /// and has no position.
    static func configure(_ fi: UnsafeMutablePointer<cmf_fuse_file_info>, _ fh: UInt64) {
        fi.pointee.fh = fh
        cmf_fi_set(fi, CMF_FI_DIRECT_IO, 1)
        cmf_fi_set(fi, CMF_FI_NONSEEKABLE, 1)
        cmf_fi_set(fi, CMF_FI_KEEP_CACHE, 0)
    }

    // MARK: listing

    /// The entries of a folder: the mailslots and path levels directly in it (names as their creators
    /// wrote them), and folders made with mkdir.
    func readDirectory(_ req: OpaquePointer, _ ino: UInt64, _ size: Int, _ offset: off_t) {
        guard let folder = node(ino), folder.isDirectory else { return reply(req, ENOTDIR) }
        var children: [String: (name: String, isDirectory: Bool)] = [:] // by key of the child
        let prefix = folder.key.isEmpty ? "" : folder.key + "\\"
        let depth = folder.key.isEmpty ? 0 : folder.key.split(separator: "\\").count
        func add(_ path: String, _ key: String, isMailslot: Bool) {
            guard key.hasPrefix(prefix) else { return }
            let keyParts = key.split(separator: "\\", omittingEmptySubsequences: false)
            let pathParts = path.split(separator: "\\", omittingEmptySubsequences: false)
            guard keyParts.count > depth, pathParts.count == keyParts.count else { return }
            let childKey = keyParts[0...depth].joined(separator: "\\")
            let isDirectory = !isMailslot || keyParts.count > depth + 1
            // A mailslot and a path level of the same name: the mailslot is the file shown.
            if let seen = children[childKey], !seen.isDirectory || isDirectory { return }
            children[childKey] = (String(pathParts[depth]), isDirectory)
        }
        for entry in LocalDirectory.entries(holders: false) { add(entry.name.path, entry.name.key, isMailslot: true) }
        for (key, path) in state.withLock({ $0.directories }) { add(path, key, isMailslot: false) }
        var listing: [(name: String, st: stat)] = [(".", MailslotFileSystem.directoryAttributes(ino: ino)),
                                                   ("..", MailslotFileSystem.directoryAttributes(ino: ino))]
        for (key, child) in children.sorted(by: { $0.key < $1.key }) {
            var st = stat()
            st.st_ino = __ino_t(MailslotFileSystem.inode(key: key, isDirectory: child.isDirectory))
            st.st_mode = child.isDirectory ? MailslotFileSystem.directory : MailslotFileSystem.regularFile
            listing.append((child.name, st))
        }
        var buffer = [CChar](repeating: 0, count: size)
        var used = 0
        var index = Int(offset)
        while index < listing.count {
            let entry = listing[index]
            let needed = buffer.withUnsafeMutableBufferPointer { b in
                withUnsafePointer(to: entry.st) { cmf_add_direntry(req, b.baseAddress! + used, size - used, entry.name, $0, off_t(index + 1)) }
            }
            if needed > size - used { break }
            used += needed
            index += 1
        }
        _ = buffer.withUnsafeBufferPointer { cmf_reply_buf(req, $0.baseAddress, used) }
    }
}
