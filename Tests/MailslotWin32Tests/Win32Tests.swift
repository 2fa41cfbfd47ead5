import Foundation
import Testing

/// Compiles a Windows-style C program against include/mailslot_win32.h and runs it against the shared library.
@Suite("Win32 C API")
struct Win32Tests {
    @Test func windowsStyleCCodeCompilesAndBehavesAsOnWindows() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let products = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let library = products.appendingPathComponent("libMailslotWin32.so").path
        guard FileManager.default.fileExists(atPath: library) else {
            Issue.record("\(library) is not built; run `swift build` before `swift test`")
            return
        }
        let source = root.appendingPathComponent("Tests/MailslotWin32Tests/Fixtures/win32_sample.c").path
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("win32_sample-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let compile = try run("/usr/bin/cc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-I", root.appendingPathComponent("Sources/CMailslotWin32/include").path,
                                              source, "-L", products.path, "-lMailslotWin32", "-Wl,-rpath," + products.path, "-o", output])
        #expect(compile.status == 0, "cc failed: \(compile.output)")
        guard compile.status == 0 else { return }
        let result = try run(output, [#"\\.\mailslot\win32-test\sample-"# + "\(getpid())"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains(" passed, 0 failed"), "\(result.output)")
    }

    func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
