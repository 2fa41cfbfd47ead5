import Foundation
import MailslotTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The tests' own way of running programs (``TestSupport/Child``): posix_spawn and a reading thread, not
/// Foundation's `Process`, whose libdispatch sources crashed a test run once.
@Suite("Test programs")
struct ChildProcessTests {
    @Test func outputErrorsInputAndStatusAreEachKept() throws {
        let result = try TestSupport.run("/bin/sh", ["-c", "cat; echo to-errors >&2; exit 3"], input: "from input", separateErrors: true)
        #expect(result.status == 3)
        #expect(result.output == "from input")
        #expect(result.errors == "to-errors\n")
        let merged = try TestSupport.run("/bin/sh", ["-c", "echo out; echo err >&2"])
        #expect(merged.output.split(separator: "\n").sorted() == ["err", "out"])
    }

    /// A child holds its three standard descriptors and nothing else of the tests' (another test's pipe or
    /// socket held by a child would keep it open past its own program's end).
    @Test func aChildInheritsOnlyItsStandardDescriptors() throws {
        let inheritable = open("/dev/null", O_RDONLY) // not close-on-exec
        #expect(inheritable > 2)
        defer { close(inheritable) }
        let result = try TestSupport.run("/usr/bin/python3", ["-c", """
            import os
            held = []
            for fd in range(3, 4096):
                try:
                    os.fstat(fd)
                    held.append(fd)
                except OSError:
                    pass
            print(" ".join(map(str, held)))
            """])
        #expect(result.status == 0)
        // Only this test's own descriptor is certain to be open and inheritable when the child starts (other
        // tests running meanwhile may open one between the look at /proc/self/fd and the spawn).
        let held = result.output.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        #expect(!held.contains(inheritable), "the child holds \(held)")
    }

    /// A program that leaves a process behind holding its output does not hold up the end of the wait.
    @Test func aProcessLeftBehindDoesNotHoldTheWait() throws {
        let started = Date()
        let result = try TestSupport.run("/bin/sh", ["-c", "sleep 30 & echo $!"])
        let elapsed = Date().timeIntervalSince(started)
        if let left = Int32(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) { kill(left, SIGKILL) }
        #expect(result.status == 0)
        #expect(elapsed < 4, "the wait took \(elapsed) s")
    }

    /// A program past its time is killed, and says so.
    @Test func aProgramPastItsTimeIsKilled() throws {
        let child = try TestSupport.Child("/bin/sh", ["-c", "echo begun; exec sleep 30"])
        try child.waitFor("begun")
        let result = try child.finish(timeout: 0.2)
        #expect(result.status == -9)
        #expect(result.output.hasPrefix("begun\n"))
        #expect(!child.isRunning)
    }
}
