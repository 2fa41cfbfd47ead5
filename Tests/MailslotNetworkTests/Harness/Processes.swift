import Foundation
import MailslotTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A process the tests started. It is stopped and reaped by pid, never by name.
final class Child: @unchecked Sendable {
    let pid: pid_t
    let label: String
    let stdoutPath: String
    let stderrPath: String
    private let lock = NSLock()
    private var status: Int32?

    init(pid: pid_t, label: String, stdoutPath: String, stderrPath: String) {
        self.pid = pid
        self.label = label
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
    }

    /// The exit status once the child has exited (128 + signal when killed by a signal), else nil. Reaps it.
    func poll() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        if r == pid {
            status = Spawn.decode(raw)
        } else if r < 0 && errno == ECHILD {
            status = -1 // not ours any more (should not happen)
        }
        return status
    }

    var isRunning: Bool { poll() == nil }

    /// Waits (bounded) for the child to exit by itself.
    func waitForExit(timeout: TimeInterval) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let s = poll() { return s }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return poll()
    }

    /// Sends `signal`, waits up to `grace` seconds, then SIGKILLs. Blocking and bounded; safe to call twice.
    /// Returns the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, grace: TimeInterval = 5) -> Int32 {
        if let s = poll() { return s }
        kill(pid, signal) // the child is not reaped yet, so the pid is still ours
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline {
            if let s = poll() { return s }
            usleep(5_000)
        }
        kill(pid, SIGKILL)
        let hard = Date().addingTimeInterval(5)
        while Date() < hard {
            if let s = poll() { return s }
            usleep(5_000)
        }
        return poll() ?? -1
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The last lines of its output, for failure messages.
    func tail(_ lines: Int = 25) -> String {
        let both = (stdoutPath == stderrPath ? stdout : stdout + stderr).split(separator: "\n", omittingEmptySubsequences: false)
        return "--- \(label) (pid \(pid)) last \(lines) lines ---\n" + both.suffix(lines).joined(separator: "\n")
    }
}

struct RunResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "status \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

enum Spawn {
    /// The environment for every child: ours without any MAILSLOT_* setting (the tests pass their own), with
    /// the sbin directories on PATH.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MAILSLOT_") }
        env["PATH"] = ((env["PATH"].map { [$0] } ?? []) + Prerequisites.extraDirectories).joined(separator: ":")
        env.merge(extra) { $1 }
        return env
    }

    static func decode(_ raw: Int32) -> Int32 {
        (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    }

    /// Starts `argv` with stdin from /dev/null and stdout/stderr to files (the same file when the paths are
    /// equal), by ``TestSupport/launch(_:_:environment:input:output:errors:)``: every other descriptor is
    /// closed in the child, so no test's pipe is held open by a daemon.
    static func start(_ argv: [String], environment: [String: String], stdoutPath: String, stderrPath: String,
                      label: String) throws -> Child {
        let flags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC
        let output = open(stdoutPath, flags, 0o644)
        let errors = stderrPath == stdoutPath ? output : open(stderrPath, flags, 0o644)
        defer {
            if output >= 0 { close(output) }
            if errors >= 0 && errors != output { close(errors) }
        }
        guard output >= 0, errors >= 0 else { throw HarnessError("cannot open \(stdoutPath) or \(stderrPath): \(String(cString: strerror(errno)))") }
        let pid: pid_t
        do {
            pid = try TestSupport.launch(argv[0], Array(argv.dropFirst()), environment: environment, output: output, errors: errors)
        } catch {
            throw HarnessError("cannot start \(argv.joined(separator: " ")): \(error)")
        }
        return Child(pid: pid, label: label, stdoutPath: stdoutPath, stderrPath: stderrPath)
    }

    private static let counter = Counter()

    /// A fresh pair of output files in `directory`.
    static func outputFiles(in directory: String, label: String) -> (String, String) {
        let n = counter.next()
        let safe = label.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }.prefix(40)
        return ("\(directory)/run-\(n)-\(String(safe)).out", "\(directory)/run-\(n)-\(String(safe)).err")
    }
}

/// Runs a command to completion with a bounded wait (async: the waiting does not hold a thread).
enum Run {
    static func command(_ argv: [String], environment: [String: String] = Spawn.environment(), directory: String,
                        timeout: TimeInterval = 30) async throws -> RunResult {
        let label = URL(fileURLWithPath: argv.first ?? "cmd").lastPathComponent
        let (out, err) = Spawn.outputFiles(in: directory, label: label)
        let child = try Spawn.start(argv, environment: environment, stdoutPath: out, stderrPath: err, label: label)
        var status = await child.waitForExit(timeout: timeout)
        if status == nil {
            status = child.stop(signal: SIGKILL, grace: 1)
            Issue.record("\(argv.joined(separator: " ")) did not finish within \(timeout) s; killed")
        }
        let result = RunResult(status: status ?? -1, stdout: child.stdout, stderr: child.stderr)
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: err)
        return result
    }
}

/// Blocking variants, for clean-up in `defer` and for the prerequisite probe.
enum Blocking {
    @discardableResult
    static func run(_ argv: [String], timeout: TimeInterval = 10) -> RunResult {
        let directory = NSTemporaryDirectory()
        let (out, err) = Spawn.outputFiles(in: directory, label: "blocking-\(getpid())")
        guard let child = try? Spawn.start(argv, environment: Spawn.environment(), stdoutPath: out, stderrPath: err,
                                           label: argv.first ?? "") else {
            return RunResult(status: -1, stdout: "", stderr: "cannot start \(argv)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var status = child.poll()
        while status == nil && Date() < deadline {
            usleep(5_000)
            status = child.poll()
        }
        if status == nil { status = child.stop(signal: SIGKILL, grace: 1) }
        let result = RunResult(status: status ?? -1, stdout: child.stdout, stderr: child.stderr)
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: err)
        return result
    }
}

/// Bounded waiting.
enum Wait {
    /// Polls `condition` until it holds or `timeout` passes. Returns whether it held.
    static func until(timeout: TimeInterval, interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: interval)
        }
        return try await condition()
    }

    /// Waits for a line of a file that satisfies `match`, returning it; nil after `timeout`.
    static func line(in path: String, timeout: TimeInterval, stopIf child: Child? = nil,
                     where match: (Substring) -> Bool) async -> String? {
        var found: String?
        _ = await until(timeout: timeout) {
            let dead = child.map { !$0.isRunning } ?? false // checked first: a dead writer has written all it will
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let line = text.split(separator: "\n").first(where: match) {
                found = String(line)
                return true
            }
            return dead
        }
        return found
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
