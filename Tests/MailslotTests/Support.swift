import Foundation
import Mailslot
import MailslotTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Helpers shared by the API tests: unique names, the built `mailslot` tool, child processes.
enum Support {
    nonisolated(unsafe) static var counter = 0
    static let lock = NSLock()

    /// A name no other test (or test run) uses.
    static func uniqueName(_ tag: String) -> String {
        lock.lock()
        counter += 1
        let n = counter
        lock.unlock()
        return #"\\.\mailslot\mailslot-tests\"# + "\(tag)-\(getpid())-\(n)"
    }

    /// The directory holding the built products (next to the test bundle).
    static var productsDirectory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// The `mailslot` executable built with the package.
    static var tool: String {
        let path = productsDirectory.appendingPathComponent("mailslot").path
        if !FileManager.default.isExecutableFile(atPath: path) {
            Issue.record("the mailslot tool is not built at \(path); run `swift build` before `swift test`")
        }
        return path
    }

    static var isRoot: Bool { geteuid() == 0 }
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Whether tests that need root may run; prints a loud notice when they are skipped.
    static var rootAvailable: Bool {
        if isRoot || isCI { return true } // under CI a missing prerequisite must fail, not skip
        FileHandle.standardError.write(Data("""
            *** SKIPPING tests that need root (running a writer as another user with setpriv). \
            Run the tests as root to include them; CI=true makes this a failure. ***\n
            """.utf8))
        return false
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a command to completion with a bounded wait (killing it if it overruns).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], stdin: String? = nil, timeout: TimeInterval = 60) throws -> Result {
        let result = try TestSupport.run(executable, arguments, input: stdin ?? "", separateErrors: true, timeout: timeout)
        if result.status == -9 { Issue.record("\(executable) \(arguments) did not finish within \(timeout) s; killed") }
        return Result(status: result.status, stdout: result.output, stderr: result.errors)
    }

    /// Starts a process that inherits this process's inheritable descriptors (see ``TestSupport/spawn(_:_:stdoutPath:)``).
    static func spawn(_ executable: String, _ arguments: [String], stdoutPath: String) throws -> pid_t {
        try TestSupport.spawn(executable, arguments, stdoutPath: stdoutPath)
    }

    /// Waits for a child with a bounded wait; kills it if it overruns (``TestSupport/wait(_:timeout:)``).
    static func wait(_ pid: pid_t, timeout: TimeInterval = 60) -> Int32 {
        let status = TestSupport.wait(pid, timeout: timeout)
        if status == -1 { Issue.record("child \(pid) did not exit within \(timeout) s; killed") }
        return status
    }

    /// Waits (bounded) until a mailslot accepts writers.
    static func waitForMailslot(_ name: String, timeout: TimeInterval = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let w = try? MailslotWriter(opening: name) { w.close(); return true }
            usleep(10_000)
        }
        return false
    }

    /// Waits (bounded) until `condition` holds.
    static func eventually(timeout: TimeInterval = 20, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }
}

