import Foundation
import Logging
import Mailslot
import MailslotFiles
import MailslotTestSupport
import MailslotTransport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Mailslots as files: shells, Python and C reach them with plain file calls through a FUSE mount
/// that each test makes in a folder of its own (root, /dev/fuse and libfuse3; CI installs fuse3).
@Suite("Mailslots as files", .serialized)
struct FileSystemTests {
    static let python = "/usr/bin/python3"
    static let fixtures = TestSupport.packageRoot + "/Tests/MailslotFilesTests/Fixtures"

    /// Whether the file system can be mounted here; says loudly why not (a failure under CI=true).
    static var available: Bool {
        guard TestSupport.rootAvailable(for: "the file system tests (mounting with allow_other)") else { return false }
        guard TestSupport.programAvailable("/dev/fuse", for: "the file system tests", install: "fuse3 (and a kernel with FUSE)", executable: false),
              TestSupport.programAvailable("/usr/bin/fusermount3", for: "the file system tests", install: "fuse3"),
              TestSupport.programAvailable(python, for: "the file system tests' Python programs", install: "python3") else { return false }
        do throws(MailslotError) {
            try FuseChannel.loadLibrary()
            return true
        } catch {
            TestSupport.programAvailable("/nonexistent/libfuse3.so.3", for: "the file system tests (\(error.message))", install: "fuse3")
            return false
        }
    }

    /// A mount in a fresh folder, served by this process (so that the sanitizer passes cover the file
    /// system too); unmounted and removed by `close()`.
    final class Mount {
        let folder: String
        let fileSystem: MailslotFileSystem

        init(readTimeout: MailslotTimeout = .forever) throws {
            folder = try TestSupport.temporaryFolder("mailslot-files")
            do {
                fileSystem = try MailslotFileSystem(.init(mountPoint: folder, readTimeout: readTimeout))
                try fileSystem.start()
            } catch {
                try? FileManager.default.removeItem(atPath: folder)
                throw error
            }
        }

        func path(_ relative: String) -> String { folder + "/" + relative }

        func close() {
            fileSystem.stop()
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    /// A unique path level for one test.
    static func level(_ tag: String) -> String { "files-test-\(tag)-\(getpid())-\(Int.random(in: 0..<1_000_000))" }

    /// Runs Python code (with the mount's paths as arguments); its output and exit status.
    static func python(_ code: String, _ arguments: [String] = [], as nobody: Bool = false) throws -> TestSupport.Result {
        if nobody {
            return try TestSupport.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", code] + arguments)
        }
        return try TestSupport.run(python, ["-c", code] + arguments)
    }

    /// The messages `mailslot listen --json` printed, decoded.
    static func messages(_ output: String) -> [[UInt8]] {
        output.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let data = object["data"] as? String, let bytes = Data(base64Encoded: data) else { return nil }
            return Array(bytes)
        }
    }

    static func waitForMailslot(_ name: String) -> Bool {
        TestSupport.eventually { MailslotDirectory.list().contains { $0.name.key == (try? MailslotName(parsing: name))?.key } }
    }

    // MARK: writers

    /// echo, printf, `cat file >` and `dd bs=424 count=100` into a mailslot's file: every write(2) is one
    /// message, with its bytes exactly.
    @Test func shellWritesAreOneMessageEach() throws {
        guard Self.available else { return }
        let mount = try Mount()
        defer { mount.close() }
        let level = Self.level("shell")
        let name = #"\\.\mailslot\"# + level + #"\Events"#
        let listener = try TestSupport.Child(TestSupport.product("mailslot"), ["listen", name, "--json", "--count", "103", "--timeout", "30000"])
        #expect(Self.waitForMailslot(name))
        let scratch = try TestSupport.temporaryFolder("mailslot-files-data")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = [UInt8]((0..<5_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let blocks = [UInt8]((0..<42_400).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) })
        try Data(file).write(to: URL(fileURLWithPath: scratch + "/file"))
        try Data(blocks).write(to: URL(fileURLWithPath: scratch + "/blocks"))
        let target = mount.path(level + "/events") // any case reaches it
        let script = """
            set -e
            echo hello > '\(target)'
            printf 'a\\tb' > '\(target)'
            cat '\(scratch)/file' > '\(target)'
            dd if='\(scratch)/blocks' of='\(target)' bs=424 count=100 status=none
            """
        let shell = try TestSupport.run("/bin/sh", ["-c", script])
        #expect(shell.status == 0, "\(shell.output)")
        let result = try listener.finish(timeout: 30)
        let got = Self.messages(result.output)
        #expect(got.count == 103, "\(result.output.prefix(500))")
        guard got.count == 103 else { return }
        #expect(got[0] == Array("hello\n".utf8))
        #expect(got[1] == Array("a\tb".utf8))
        #expect(got[2] == file)
        for i in 0..<100 { #expect(got[3 + i] == Array(blocks[(i * 424)..<((i + 1) * 424)]), "block \(i)") }
    }

    /// Servers written with plain file calls, in Python and in C, receive from `mailslot send`, the Swift
    /// API, the C API and a file, in one FIFO.
    @Test func plainFileServersReceiveFromEveryKindOfWriterInOrder() throws {
        guard Self.available else { return }
        let mount = try Mount()
        defer { mount.close() }
        let client = try CCompiler.build(TestSupport.packageRoot + "/Tests/MailslotWin32Tests/Fixtures/samples/ms_client.c", linkingMailslotWin32: true)
        let cServer = try CCompiler.build(Self.fixtures + "/file_server.c")
        for (kind, program) in [("python", [Self.python, Self.fixtures + "/file_server.py"]), ("c", [cServer])] {
            let level = Self.level("server-\(kind)")
            let path = mount.path(level)
            let name = #"\\.\mailslot\"# + level
            let server = try TestSupport.Child(program[0], Array(program.dropFirst()) + [path, "4"])
            try server.waitFor("ready")
            #expect(try TestSupport.run(TestSupport.product("mailslot"), ["send", name, "from the tool"]).status == 0)
            try MailslotWriter(opening: name).write("from Swift")
            let sent = try TestSupport.run(client, [name, "from C"])
            #expect(sent.status == 0, "\(sent.output)")
            #expect(try TestSupport.run("/bin/sh", ["-c", "printf 'from a file' > '\(path)'"]).status == 0)
            let result = try server.finish(timeout: 30)
            let lines = result.output.split(separator: "\n").map(String.init)
            let expected = ["from the tool", "from Swift", "from C", "from a file"].map { Array($0.utf8).map { String(format: "%02x", $0) }.joined() }
            #expect(lines == ["ready"] + expected + ["done"], "\(kind): \(result.output)")
            // Closing the descriptor deleted the mailslot.
            #expect(TestSupport.eventually { !MailslotDirectory.list().contains { $0.name.path == level } })
        }
    }

    /// Eight writer processes writing through the files at once: every message exactly once, in order
    /// per writer.
    @Test func eightFileWritersAtOnce() throws {
        guard Self.available else { return }
        let mount = try Mount()
        defer { mount.close() }
        let level = Self.level("eight")
        let path = mount.path(level)
        let writers = 8, perWriter = 500
        let server = try TestSupport.Child(Self.python, [Self.fixtures + "/file_server.py", path, "\(writers * perWriter)"])
        try server.waitFor("ready")
        let children = try (0..<writers).map { w in
            try TestSupport.Child(Self.python, [Self.fixtures + "/file_writer.py", path, "w\(w)", "\(perWriter)"])
        }
        for child in children { #expect(try child.finish(timeout: 60).status == 0) }
        let result = try server.finish(timeout: 60)
        var next = [Int](repeating: 0, count: writers)
        var problems: [String] = []
        for line in result.output.split(separator: "\n").dropFirst() where line != "done" {
            let text = String(decoding: stride(from: 0, to: line.count, by: 2).compactMap { i -> UInt8? in
                let start = line.index(line.startIndex, offsetBy: i)
                return UInt8(line[start..<line.index(start, offsetBy: 2)], radix: 16)
            }, as: UTF8.self)
            let parts = text.split(separator: " ")
            guard parts.count == 2, let w = Int(parts[0].dropFirst()), w < writers, let n = Int(parts[1]) else {
                problems.append("garbled: \(text)")
                continue
            }
            if n != next[w] { problems.append("writer \(w): \(n) where \(next[w]) was due") }
            next[w] = n + 1
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        #expect(next == [Int](repeating: perWriter, count: writers), "\(result.output.suffix(300))")
    }

    // MARK: errors

    @Test func errorsAreTheErrnosOfTheirWin32Codes() throws {
        guard Self.available else { return }
        let mount = try Mount()
        defer { mount.close() }
        let level = Self.level("errors")
        let name = #"\\.\mailslot\"# + level + #"\owner"#
        let server = try MailslotServer(name: name, readTimeout: .milliseconds(5_000))
        defer { server.close() }
        let everyone = try MailslotServer(name: #"\\.\mailslot\"# + level + #"\Everyone"#, readTimeout: .immediate, options: .init(access: .everyone))
        defer { everyone.close() }
        let code = """
            import errno, os, sys
            folder = sys.argv[1]
            def attempt(label, f):
                try:
                    r = f()
                    print(label, "ok", r)
                except OSError as e:
                    print(label, errno.errorcode[e.errno])
            attempt("missing", lambda: os.open(folder + "/nobody", os.O_WRONLY))
            attempt("read-existing", lambda: os.open(folder + "/owner", os.O_RDONLY))
            attempt("rdwr", lambda: os.open(folder + "/owner", os.O_RDWR))
            attempt("create-existing", lambda: os.open(folder + "/OWNER", os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600))
            attempt("unlink", lambda: os.unlink(folder + "/owner"))
            attempt("chmod", lambda: os.chmod(folder + "/owner", 0o777))
            fd = os.open(folder + "/owner", os.O_WRONLY)
            attempt("too-large", lambda: os.write(fd, b"x" * 1044481))
            attempt("largest", lambda: os.write(fd, b"y" * 1044480))
            attempt("empty-write", lambda: os.write(fd, b""))
            os.close(fd)
            attempt("bad-name", lambda: os.open(folder + "/bad\\x01name", os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600))
            attempt("long-name", lambda: os.open(folder + "/" + "n" * 250, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600))
            """
        let result = try Self.python(code, [mount.path(level)])
        let lines = Set(result.output.split(separator: "\n").map(String.init))
        for expected in ["missing ENOENT", "read-existing EACCES", "rdwr EACCES", "create-existing EEXIST", "unlink EPERM", "chmod EPERM",
                         "too-large EMSGSIZE", "largest ok 1044480", "empty-write ok 0", "bad-name EINVAL", "long-name ENAMETOOLONG"] {
            #expect(lines.contains(expected), "\(expected) not in:\n\(result.output)")
        }
        // The refused write delivered nothing; the largest message came whole; an empty write(2) is no message.
        let largest = try server.read()
        #expect(largest.count == 1_044_480 && largest.allSatisfy { $0 == UInt8(ascii: "y") })
        #expect(MailslotError.code { _ = try server.read(timeout: .immediate) } == .semTimeout)

        // Another user: refused by the owner-only rule, admitted by the everyone rule.
        let nobody = try Self.python("""
            import errno, os, sys
            for leaf in ("owner", "everyone"):
                try:
                    fd = os.open(sys.argv[1] + "/" + leaf, os.O_WRONLY)
                    os.write(fd, b"from nobody")
                    os.close(fd)
                    print(leaf, "ok")
                except OSError as e:
                    print(leaf, errno.errorcode[e.errno])
            """, [mount.path(level)], as: true)
        #expect(nobody.output.contains("owner EACCES") && nobody.output.contains("everyone ok"), "\(nobody.output)")
        #expect(try everyone.read() == Array("from nobody".utf8))
        #expect(MailslotError.code { _ = try server.read(timeout: .immediate) } == .semTimeout)
    }

    /// A write into a full mailslot waits the write timeout, off the file system's threads (another
    /// mailslot's writer is not held up meanwhile), then fails with ETIMEDOUT; every write that returned
    /// is read.
    @Test func aFullMailslotMakesAFileWriteWaitThenFail() throws {
        guard Self.available else { return }
        let mount = try Mount()
        defer { mount.close() }
        let level = Self.level("full")
        let full = try MailslotServer(name: #"\\.\mailslot\"# + level + #"\full"#, options: .init(quota: 65_536))
        defer { full.close() }
        let other = try MailslotServer(name: #"\\.\mailslot\"# + level + #"\other"#, readTimeout: .milliseconds(5_000))
        defer { other.close() }
        let writer = try TestSupport.Child(Self.python, ["-c", """
            import errno, os, sys, time
            fd = os.open(sys.argv[1], os.O_WRONLY)
            written = 0
            while True:
                started = time.monotonic()
                try:
                    os.write(fd, b"x" * 1000)
                    written += 1
                except OSError as e:
                    print("failed", errno.errorcode[e.errno], "after", written, "waited", round(time.monotonic() - started, 1), flush=True)
                    break
            """, mount.path(level + "/full")])
        // While that write waits, a write to another mailslot goes through at once.
        usleep(1_500_000)
        let started = Date()
        #expect(try TestSupport.run("/bin/sh", ["-c", "printf meanwhile > '\(mount.path(level + "/other"))'"]).status == 0)
        #expect(Date().timeIntervalSince(started) < 2, "another mailslot's writer was held up")
        #expect(try other.read() == Array("meanwhile".utf8))
        let result = try writer.finish(timeout: 30)
        let words = result.output.split(whereSeparator: \.isWhitespace)
        #expect(words.count == 6 && words[1] == "ETIMEDOUT", "\(result.output)")
        let written = words.count == 6 ? Int(words[3]) ?? -1 : -1
        #expect((Double(words.last ?? "") ?? 0) >= 4.5, "the write did not wait its timeout: \(result.output)")
        var read = 0
        while (try? full.read(timeout: .immediate)) != nil { read += 1 }
        #expect(read == written, "\(written) writes returned, \(read) messages read")
    }

    /// A too-small read buffer fails with EMSGSIZE and the message stays; O_NONBLOCK on an empty mailslot
    /// is EAGAIN; a blocking read waits the mount's read timeout and fails with ETIMEDOUT; a file write
    /// into the reader's own mailslot arrives.
    @Test func readsTakeOneWholeMessageOrLeaveIt() throws {
        guard Self.available else { return }
        let mount = try Mount(readTimeout: .milliseconds(300))
        defer { mount.close() }
        let level = Self.level("reads")
        let result = try Self.python("""
            import errno, os, sys, time
            path = sys.argv[1]
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NONBLOCK, 0o600)
            try:
                os.read(fd, 100)
            except OSError as e:
                print("empty", errno.errorcode[e.errno])
            w = os.open(path, os.O_WRONLY)
            os.write(w, b"0123456789")
            os.write(w, b"second")
            try:
                os.read(fd, 4)
            except OSError as e:
                print("small", errno.errorcode[e.errno])
            print("whole", os.read(fd, 100))
            print("next", os.read(fd, 6))
            os.set_blocking(fd, True)
            started = time.monotonic()
            try:
                os.read(fd, 100)
            except OSError as e:
                print("timeout", errno.errorcode[e.errno], int((time.monotonic() - started) * 1000) >= 290)
            st = os.stat(path)
            print("mode", oct(st.st_mode), "owner", st.st_uid, "recent", abs(time.time() - st.st_mtime) < 60)
            os.close(fd)
            # The kernel sends the release after close(2) returns: the name goes a moment later.
            deadline = time.monotonic() + 5
            while os.path.exists(path) and time.monotonic() < deadline:
                time.sleep(0.005)
            print("gone", not os.path.exists(path))
            """, [mount.path(level)])
        for expected in ["empty EAGAIN", "small EMSGSIZE", "whole b'0123456789'", "next b'second'", "timeout ETIMEDOUT True",
                         "mode 0o100200 owner 0 recent True", "gone True"] {
            #expect(result.output.contains(expected), "\(expected) not in:\n\(result.output)")
        }
    }

    /// `ls` lists the mailslots as their creators named them, path levels as folders; `stat` shows the
    /// owner and a mode that says who may write.
    @Test func listingAndAttributes() throws {
        guard Self.available else { return }
        let mount = try Mount()
        defer { mount.close() }
        let level = Self.level("ls")
        let servers = try [("Owner", WriterAccess.owner), ("Group", .group(4242)), ("Everyone", .everyone), ("deeper\\Leaf", .owner)].map { leaf, access in
            try MailslotServer(name: #"\\.\mailslot\"# + level + "\\" + leaf, options: .init(access: access))
        }
        defer { servers.forEach { $0.close() } }
        let listing = try TestSupport.run("/bin/ls", ["-1", mount.path(level)])
        #expect(Set(listing.output.split(separator: "\n").map(String.init)) == ["deeper", "Everyone", "Group", "Owner"], "\(listing.output)")
        func attributes(_ relative: String) throws -> stat {
            var st = stat()
            guard stat(mount.path(relative), &st) == 0 else { throw TestSupport.Failure("stat \(relative): \(String(cString: strerror(errno)))") }
            return st
        }
        #expect(try attributes(level + "/owner").st_mode == 0o100200)
        let group = try attributes(level + "/group")
        #expect(group.st_mode == 0o100220 && group.st_gid == 4242)
        #expect(try attributes(level + "/EVERYONE").st_mode == 0o100222)
        #expect(try attributes(level + "/deeper").st_mode & 0o170000 == 0o040000)
        #expect(try attributes(level + "/deeper/leaf").st_mode == 0o100200)
        let created = try attributes(level + "/owner").st_mtim.tv_sec
        #expect(abs(Int(time(nil)) - created) < 60)
        #expect(MailslotError.code { _ = try MailslotServer(name: #"\\.\mailslot\"# + level + #"\OWNER"#) } == .alreadyExists)
    }

    // MARK: life

    /// `mailslot mount` killed with SIGKILL leaves a dead mount ("transport endpoint is not connected");
    /// the next start detaches it, says so, and the files work again. SIGTERM unmounts cleanly.
    @Test func aKilledMountIsCleanedAtTheNextStart() throws {
        guard Self.available else { return }
        let folder = try TestSupport.temporaryFolder("mailslot-files-killed")
        defer { _ = umount2(folder, Int32(MNT_DETACH)); try? FileManager.default.removeItem(atPath: folder) }
        let tool = TestSupport.product("mailslot")
        let first = try TestSupport.Child(tool, ["mount", folder])
        try first.waitFor("Ctrl-C unmounts")
        first.signal(SIGKILL)
        _ = try first.finish(timeout: 10)
        var st = stat()
        #expect(stat(folder, &st) != 0 && errno == ENOTCONN)
        let second = try TestSupport.Child(tool, ["mount", folder])
        try second.waitFor("Ctrl-C unmounts")
        #expect(second.output.contains("left behind by a process that was killed"), "\(second.output)")
        let level = Self.level("killed")
        let server = try MailslotServer(name: #"\\.\mailslot\"# + level, readTimeout: .milliseconds(5_000))
        defer { server.close() }
        #expect(try TestSupport.run("/bin/sh", ["-c", "printf again > '\(folder)/\(level)'"]).status == 0)
        #expect(try server.read() == Array("again".utf8))
        second.signal(SIGTERM)
        let ended = try second.finish(timeout: 20)
        #expect(ended.status == 0, "\(ended.output)")
        #expect(!(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)).contains(folder + " "))
    }

    /// `mailslotd --mount` serves the files beside the gateway and unmounts on SIGTERM; with `--user` it
    /// refuses to start (the file system needs root).
    @Test func theDaemonServesTheFilesToo() throws {
        guard Self.available else { return }
        let folder = try TestSupport.temporaryFolder("mailslot-files-daemon")
        let scratch = try TestSupport.temporaryFolder("mailslot-files-daemon-config")
        defer {
            _ = umount2(folder, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: folder)
            try? FileManager.default.removeItem(atPath: scratch)
        }
        try "".write(toFile: scratch + "/mailslot.conf", atomically: true, encoding: .utf8)
        let environment = ["MAILSLOT_CONFIG": scratch + "/mailslot.conf"]
        let port = TestSupport.ports()
        let daemon = try TestSupport.Child(TestSupport.product("mailslotd"), ["--interface", "127.0.0.1", "--port", "\(port)", "--no-name-service",
                                                                            "--mount", folder], environment: environment)
        try daemon.waitFor("mailslotd listening")
        try daemon.waitFor("mailslot file system mounted")
        let level = Self.level("daemon")
        let server = try MailslotServer(name: #"\\.\mailslot\"# + level, readTimeout: .milliseconds(5_000))
        defer { server.close() }
        #expect(try TestSupport.run("/bin/sh", ["-c", "printf daemon > '\(folder)/\(level)'"]).status == 0)
        #expect(try server.read() == Array("daemon".utf8))
        daemon.signal(SIGTERM)
        let ended = try daemon.finish(timeout: 20)
        #expect(ended.status == 0 && ended.output.contains("mailslot file system unmounted"), "\(ended.output)")
        let refused = try TestSupport.run(TestSupport.product("mailslotd"), ["--port", "\(port)", "--mount", folder, "--user", "nobody"],
                                          environment: environment)
        #expect(refused.status != 0 && refused.output.contains("error 87") && refused.output.contains("--user"), "\(refused.output)")
    }

    /// Without root, `mailslot mount` works through fusermount3 for that user alone: the user's own
    /// mailslots work through it, and nobody else (root included) can enter the mount.
    @Test func aUserMountsForThemselves() throws {
        guard Self.available else { return }
        // Debian's udev makes /dev/fuse 0666; some machines keep it 0600, which only root may open.
        var device = stat()
        #expect(stat("/dev/fuse", &device) == 0)
        let mode = device.st_mode & 0o777
        if mode & 0o006 != 0o006 { chmod("/dev/fuse", mode | 0o006) }
        defer { if mode & 0o006 != 0o006 { chmod("/dev/fuse", mode) } }
        // The user must be able to run the tool: a copy in a folder of the test's own.
        let scratch = try TestSupport.temporaryFolder("mailslot-files-user")
        let folder = scratch + "/mount"
        defer {
            _ = umount2(folder, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: scratch)
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestSupport.product("mailslot"), toPath: scratch + "/mailslot")
        for path in [scratch, folder] { chown(path, 65534, 65534) }
        chmod(scratch, 0o755)
        let mount = try TestSupport.Child("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", scratch + "/mailslot", "mount", folder])
        try mount.waitFor("Ctrl-C unmounts")
        let used = try Self.python("""
            import os, subprocess, sys
            path = sys.argv[1] + "/own-inbox"
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600)
            print(subprocess.run(["sh", "-c", "printf mine > " + path]).returncode)
            print(os.read(fd, 100))
            """, [folder], as: true)
        #expect(used.output == "0\nb'mine'\n", "\(used.output)")
        var st = stat()
        #expect(stat(folder + "/own-inbox", &st) != 0 && errno == EACCES, "root entered a user's mount")
        mount.signal(SIGTERM)
        let ended = try mount.finish(timeout: 20)
        #expect(ended.status == 0, "\(ended.output)")
        #expect(!(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)).contains(folder + " "))
    }

    /// A reader waiting in read(2) that is killed does not hang (the kernel's interrupt reaches the file
    /// system, which answers at once); its mailslot goes when its descriptor closes.
    @Test func aWaitingReaderCanBeKilled() throws {
        guard Self.available else { return }
        let mount = try Mount()
        defer { mount.close() }
        let level = Self.level("interrupt")
        let reader = try TestSupport.Child(Self.python, ["-c", """
            import os, sys
            fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_RDONLY, 0o600)
            print("waiting", flush=True)
            os.read(fd, 100)
            """, mount.path(level)])
        try reader.waitFor("waiting")
        usleep(200_000)
        reader.signal(SIGKILL)
        let started = Date()
        _ = try reader.finish(timeout: 10)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(TestSupport.eventually { !MailslotDirectory.list().contains { $0.name.path == level } })
    }

    /// The shim's declarations of libfuse's structures match the installed headers member by member.
    @Test func theShimMatchesLibfuseHeaders() throws {
        guard Self.available else { return }
        guard TestSupport.programAvailable("/usr/include/fuse3/fuse_lowlevel.h", for: "the libfuse ABI check", install: "libfuse3-dev",
                                           executable: false) else { return }
        let flags = try TestSupport.run("/usr/bin/pkg-config", ["--cflags", "fuse3"])
        let source = Self.fixtures + "/fuse_abi_check.c"
        let binary = CCompiler.scratch + "/fuse_abi_check"
        let build = try TestSupport.run("/usr/bin/cc", ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-DCMF_ABI_CHECK_MAIN"]
                                        + flags.output.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
                                        + ["-I", TestSupport.packageRoot + "/Sources/CMailslotFuse/include", source,
                                           TestSupport.packageRoot + "/Sources/CMailslotFuse/fuse.c", "-ldl", "-o", binary])
        #expect(build.status == 0, "\(build.output)")
        let run = try TestSupport.run(binary, [])
        #expect(run.status == 0 && run.output.contains("passed"), "\(run.output)")
    }
}
