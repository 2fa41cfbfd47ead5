import Foundation
import MailslotCore
import MailslotTransport
import Synchronization
// A plain target (the test targets depend on it), so `swift build` builds it too, where Swift Testing is
// not available: only the failure reporting needs it.
#if canImport(Testing)
import Testing
#endif

#if canImport(Glibc)
import Glibc
#endif

/// What the tests guard values shared between threads with: the library's pthread-mutex box, which
/// ThreadSanitizer sees. (Synchronization's `Mutex` is a futex inside the uninstrumented standard library,
/// so the sanitizer reports every access it guards as a race.)
package typealias Guarded = Locked

/// What the test targets share: the built products, unique names, prerequisites that skip loudly (and
/// fail under CI=true), and child processes with bounded waits.
public enum TestSupport {
    /// Loopback ports for a test's servers: `count` consecutive ones that nothing holds now (UDP and TCP on
    /// 127.0.0.1). They come from a block of 100 of this process's own, below the kernel's ephemeral range
    /// (32768-60999), so that no client socket's automatic port can take one, and from one counter for every
    /// suite of the run, so that no two tests get the same port.
    public static func ports(_ count: Int = 1) -> UInt16 {
        let base = 10_000 + Int(getpid() % 220) * 100
        return nextPort.withLock { next in
            for _ in 0..<100 {
                let first = next
                next = (next + count) % 100
                guard first + count <= 100 else { continue }
                if (0..<count).allSatisfy({ isFree(UInt16(base + first + $0)) }) { return UInt16(base + first) }
            }
            return UInt16(base + next) // all held: the test's own bind will say so
        }
    }

    private static let nextPort = Guarded(0)

    /// Whether a UDP and a TCP socket can bind 127.0.0.1:`port` now.
    private static func isFree(_ port: UInt16) -> Bool {
        [Int32(SOCK_DGRAM.rawValue), Int32(SOCK_STREAM.rawValue)].allSatisfy { type in
            let fd = socket(AF_INET, type, 0)
            guard fd >= 0 else { return false }
            defer { Sys.close(fd) }
            do throws(Errno) { try Sys.bind(fd, .loopback, port) } catch { return false }
            return true
        }
    }

    /// The directory holding the built products (next to the test bundle).
    public static let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path

    /// A built executable of the package (`mailslot`, `mailslotd`, ...).
    public static func product(_ name: String) -> String { products + "/" + name }

    /// The package's root folder.
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    private static let counter = Atomic<Int>(0)

    /// A local mailslot name no other test (or test run) uses.
    public static func uniqueName(_ tag: String, folder: String = "mailslot-tests") -> String {
        #"\\.\mailslot\"# + folder + #"\"# + "\(tag)-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue)"
    }

    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Whether tests that need root may run: prints a loud notice when they are skipped, and records a
    /// failure under CI=true, where a missing prerequisite must not pass quietly.
    public static func rootAvailable(for what: String) -> Bool {
        if geteuid() == 0 { return true }
        if isCI {
            record("CI=true but the tests do not run as root: \(what) cannot run")
            return false
        }
        FileHandle.standardError.write(Data("*** SKIPPING \(what): it needs root. Run the tests as root to include it; CI=true makes this a failure. ***\n".utf8))
        return false
    }

    /// Whether an external program (or, with `executable` false, a file such as a device) is there; like
    /// ``rootAvailable(for:)`` otherwise.
    @discardableResult
    public static func programAvailable(_ path: String, for what: String, install: String, executable: Bool = true) -> Bool {
        if executable ? FileManager.default.isExecutableFile(atPath: path) : FileManager.default.fileExists(atPath: path) { return true }
        if isCI {
            record("CI=true but \(path) is missing: \(what) cannot run (apt-get install \(install))")
            return false
        }
        FileHandle.standardError.write(Data("*** SKIPPING \(what): \(path) is missing (apt-get install \(install)); CI=true makes this a failure. ***\n".utf8))
        return false
    }

    /// Records a test failure (in a test run; elsewhere it can only be said).
    static func record(_ message: String) {
        #if canImport(Testing)
        Issue.record(Comment(rawValue: message))
        #else
        FileHandle.standardError.write(Data((message + "\n").utf8))
        #endif
    }

    /// A fresh temporary folder, removed by the caller.
    public static func temporaryFolder(_ tag: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(tag)-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public struct Result: Sendable {
        public var status: Int32
        /// Standard output, with standard error unless that was collected apart.
        public var output: String
        /// Standard error, when collected apart.
        public var errors: String = ""
    }

    /// Runs a program to completion (stdout and stderr together, unless `separateErrors`), killing it past
    /// `timeout` seconds.
    @discardableResult
    public static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                           separateErrors: Bool = false, timeout: TimeInterval = 60) throws -> Result {
        try Child(path, arguments, environment: environment, input: input, separateErrors: separateErrors).finish(timeout: timeout)
    }

    /// Starts `path` (looked up on PATH when it has no slash) with `arguments` by posix_spawnp: `environment`
    /// as its whole environment, default signal dispositions and an empty signal mask, `input`, `output` and
    /// `errors` as its descriptors 0, 1 and 2 (nil: /dev/null), and every other descriptor closed, so that no
    /// test's pipe or socket is held open by another test's child. Returns its pid; the caller reaps it.
    ///
    /// The tests start programs this way rather than with Foundation's `Process`, whose libdispatch sources
    /// (the child's exit, a pipe's `readabilityHandler`) crashed a test run once in libdispatch's manager
    /// thread (`_dispatch_event_loop_drain`, the crash reported upstream for `Process` on Linux).
    public static func launch(_ path: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                              input: Int32? = nil, output: Int32? = nil, errors: Int32? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source) in [(Int32(0), input), (1, output), (2, errors)] {
            if let source {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            }
        }
        // Every other descriptor open now (closing one that another thread closed meanwhile is not an error).
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let r = posix_spawnp(&pid, path, &actions, &attributes, argv, envp)
        guard r == 0 else { throw Failure("cannot start \(path): \(String(cString: strerror(r)))") }
        return pid
    }

    /// SIGPIPE ignored in the test process, once (writes to a child's closed pipe then fail with EPIPE).
    static let brokenPipesIgnored: Bool = {
        signal(SIGPIPE, SIG_IGN)
        return true
    }()

    /// A one-way channel for a child's standard input or output: a connected pair of stream sockets, made
    /// close-on-exec at once (`pipe2` is not in Swift's Glibc module, and a `pipe` made close-on-exec
    /// afterwards could leak into a program another test starts meanwhile). The child gets its end by
    /// dup2, which clears that flag.
    public static func channel() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw Failure("socketpair: \(String(cString: strerror(errno)))")
        }
        shutdown(ends[0], Int32(SHUT_WR))
        shutdown(ends[1], Int32(SHUT_RD))
        return (ends[0], ends[1])
    }

    /// A program running in the background (started by ``launch(_:_:environment:input:output:errors:)``),
    /// its output collected by a thread of its own. `separateErrors` collects standard error apart
    /// (``errors``); otherwise it is part of ``output``. `input` is written to its standard input, which is
    /// then closed.
    public final class Child: @unchecked Sendable {
        public let pid: pid_t
        private let out: Drain
        private let err: Drain?
        private let status = Guarded<Int32?>(nil)

        public init(_ path: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                    separateErrors: Bool = false) throws {
            let output = try TestSupport.channel()
            let errors = separateErrors ? try TestSupport.channel() : nil
            let feed = input == nil ? nil : try TestSupport.channel()
            defer {
                close(output.write)
                if let errors { close(errors.write) }
                if let feed { close(feed.read) }
            }
            do {
                pid = try launch(path, arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                                 input: feed?.read, output: output.write, errors: errors?.write ?? output.write)
            } catch {
                close(output.read)
                if let errors { close(errors.read) }
                if let feed { close(feed.write) }
                throw error
            }
            out = Drain(output.read)
            err = errors.map { Drain($0.read) }
            if let feed, let input {
                // A child that exits without reading it makes the write fail with EPIPE, not kill the tests.
                _ = TestSupport.brokenPipesIgnored
                let bytes = Array(input.utf8)
                var written = 0
                while written < bytes.count {
                    let n = bytes[written...].withUnsafeBytes { write(feed.write, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    written += n
                }
                close(feed.write)
            }
        }

        deinit {
            if isRunning {
                kill(pid, SIGKILL)
                reap(blocking: true)
            }
            out.stop()
            err?.stop()
        }

        /// Its output so far (with standard error, unless that was collected apart).
        public var output: String { out.text }
        /// Its standard error so far, when collected apart.
        public var errors: String { err?.text ?? "" }

        /// Whether it has not exited yet (reaping it when it has).
        public var isRunning: Bool { reap(blocking: false) == nil }

        /// The exit status (128 + signal when a signal ended it) once it has exited, else nil.
        @discardableResult
        private func reap(blocking: Bool) -> Int32? {
            status.withLock { status in
                if let status { return status }
                var raw: Int32 = 0
                var r: pid_t
                repeat { r = waitpid(pid, &raw, blocking ? 0 : WNOHANG) } while r < 0 && errno == EINTR
                if r == pid {
                    status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                } else if r < 0 {
                    status = -1 // not our child any more (cannot happen: only this object reaps it)
                }
                return status
            }
        }

        /// Waits (up to `timeout` seconds) until a line of the output contains `text`.
        public func waitFor(_ text: String, timeout: TimeInterval = 10) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if output.split(separator: "\n").contains(where: { $0.contains(text) }) { return }
                if !isRunning { break }
                usleep(10_000)
            }
            if output.split(separator: "\n").contains(where: { $0.contains(text) }) { return }
            throw Failure("'\(text)' did not appear within \(Int(timeout)) s; output so far:\n\(output)")
        }

        /// Sends a signal (only while it has not been reaped, so the pid is still this child's).
        public func signal(_ number: Int32) {
            if isRunning { kill(pid, number) }
        }

        /// Waits for the exit (killing the program past `timeout` seconds), then for the rest of its output.
        public func finish(timeout: TimeInterval = 60) throws -> Result {
            let deadline = Date().addingTimeInterval(timeout)
            while isRunning && Date() < deadline { usleep(5_000) }
            var killed = false
            if isRunning {
                kill(pid, SIGKILL)
                killed = true
            }
            let code = reap(blocking: true) ?? -1
            out.finish()
            err?.finish()
            if killed { return Result(status: -9, output: output + "\n[killed after \(Int(timeout)) s]", errors: errors) }
            return Result(status: code, output: output, errors: errors)
        }
    }

    /// A pipe's reading end, read to its end by a thread of its own (blocking reads, no libdispatch).
    final class Drain: @unchecked Sendable {
        private let data = Guarded(Data())
        private let stopping = Atomic<Bool>(false)
        private let done = DispatchSemaphore(value: 0)

        init(_ fd: Int32) {
            let thread = Thread { [self] in
                run(fd)
            }
            thread.start()
        }

        var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }

        /// Stops once the pipe is quiet for 100 ms (a process the child left behind may hold it open).
        func stop() { stopping.store(true, ordering: .relaxed) }

        /// Stops as ``stop()`` does, and waits (up to 5 s) for the thread to end.
        func finish() {
            stop()
            _ = done.wait(timeout: .now() + 5)
        }

        private func run(_ fd: Int32) {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&ready, 1, 100)
                if r < 0 && errno == EINTR { continue }
                if r == 0 {
                    if stopping.load(ordering: .relaxed) { break }
                    continue
                }
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    data.withLock { $0.append(contentsOf: buffer[0..<n]) }
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break // the end, or an error
                }
            }
            close(fd)
            done.signal()
        }
    }

    /// Polls `condition` every 10 ms for up to `timeout` seconds, sleeping with Task.sleep: async tests
    /// must not hold one of the few cooperative threads (two on a two-core machine) while they wait.
    public static func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return try condition()
    }

    /// Polls `condition` every 10 ms for up to `timeout` seconds.
    public static func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }
}

extension TestSupport {
    /// Starts a process that inherits this process's inheritable descriptors (posix_spawn does not close
    /// them, unlike Foundation's Process). Returns its pid.
    public static func spawn(_ executable: String, _ arguments: [String], stdoutPath: String = "/dev/null") throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var pid: pid_t = 0
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let r = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard r == 0 else { throw POSIXError(POSIXErrorCode(rawValue: r) ?? .EINVAL) }
        return pid
    }

    /// Waits for a child with a bounded wait; kills it if it overruns. Returns its exit status (128 + signal when a signal ended it), or -1 when it had to be killed.
    public static func wait(_ pid: pid_t, timeout: TimeInterval = 60) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            usleep(5_000)
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        return -1
    }
}

/// SplitMix64: a small seeded generator, so that a randomised test that fails can be replayed.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Compiling C programs for tests: with the plain system compiler, or, when the package was built with a
/// sanitizer (`swift test --sanitize=thread|address`, detected in the built C API library), with the
/// toolchain's clang and the same sanitizer, so that programs linking the library run.
public enum CCompiler {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A folder of this test process for built programs.
    public static let scratch: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-c-tests-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// The C API's public header folder.
    public static let win32Include = TestSupport.packageRoot + "/Sources/CMailslotWin32/include"

    private static let serial = Atomic<Int>(0)

    /// Compiles `source` (a path) with warnings as errors into a binary of its own (tests running at the
    /// same time may build one source twice; running a file another build is writing fails with ETXTBSY).
    /// `linkingMailslotWin32` adds the C API's header and library.
    public static func build(_ source: String, linkingMailslotWin32: Bool = false, extra: [String] = [], cplusplus: Bool = false,
                             standard: String = "-std=c11", output: String? = nil) throws -> String {
        let binary = scratch + "/" + (output ?? URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent)
            + "-\(serial.add(1, ordering: .relaxed).newValue)"
        var arguments = [standard, "-Wall", "-Wextra", "-Werror", source, "-o", binary]
        if linkingMailslotWin32 {
            let library = TestSupport.products + "/libMailslotWin32.so"
            guard FileManager.default.fileExists(atPath: library) else {
                throw Failure(description: "\(library) is not built; run `swift build` before `swift test`")
            }
            arguments += ["-I", win32Include, "-L", TestSupport.products, "-lMailslotWin32", "-Wl,-rpath," + TestSupport.products] + sanitizerFlags
        }
        let compiler = linkingMailslotWin32 && sanitizer != nil ? clang(cplusplus: cplusplus) : (cplusplus ? "/usr/bin/g++" : "/usr/bin/cc")
        let result = try TestSupport.run(compiler, arguments + extra)
        guard result.status == 0 else { throw Failure(description: "\(compiler) \(source) failed:\n\(result.output)") }
        return binary
    }

    /// The sanitizer the C API library was built with, or nil.
    public static let sanitizer: String? = {
        guard let data = FileManager.default.contents(atPath: TestSupport.products + "/libMailslotWin32.so") else { return nil }
        if data.range(of: Data("__tsan_init".utf8)) != nil { return "thread" }
        if data.range(of: Data("__asan_init".utf8)) != nil { return "address" }
        return nil
    }()

    /// The Swift toolchain's clang, whose sanitizer runtimes match the library's.
    public static func clang(cplusplus: Bool) -> String {
        let bin = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            .first { FileManager.default.isExecutableFile(atPath: $0 + "/swift") && FileManager.default.isExecutableFile(atPath: $0 + "/clang") } ?? "/opt/swift/usr/bin"
        return bin + (cplusplus ? "/clang++" : "/clang")
    }

    /// Flags for a sanitized build: the sanitizer, and libdispatch (whose functions its runtime intercepts).
    public static var sanitizerFlags: [String] {
        guard let sanitizer else { return [] }
        let runtime = URL(fileURLWithPath: clang(cplusplus: false)).deletingLastPathComponent().deletingLastPathComponent().path + "/lib/swift/linux"
        return ["-fsanitize=\(sanitizer)", "-g", "-L", runtime, "-ldispatch", "-lBlocksRuntime", "-Wl,-rpath," + runtime]
    }
}

extension MailslotError {
    /// The Win32 code a call fails with, or nil when it succeeds.
    public static func code(of body: () throws -> Void) -> MailslotError.Code? {
        do {
            try body()
            return nil
        } catch let error as MailslotError {
            return error.code
        } catch {
            TestSupport.record("not a MailslotError: \(error)")
            return nil
        }
    }
}
