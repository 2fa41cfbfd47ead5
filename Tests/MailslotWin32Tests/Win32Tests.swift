import Foundation
import Synchronization
import Mailslot
import MailslotTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Compiles Windows-style C and C++ programs against include/mailslot_win32.h, runs them against the
/// shared library, against each other and against the `mailslot` tool.
@Suite("Win32 C API")
struct Win32Tests {
    @Test func windowsStyleCCodeCompilesAndBehavesAsOnWindows() throws {
        let program = try C.build("win32_sample.c")
        let result = try C.run(program, [C.uniqueName("sample")])
        #expect(result.status == 0 && result.output.contains(" passed, 0 failed"), "\(result.output)")
    }

    /// Every applicable line of the conformance list (W1-W47, R1), the NT layer included.
    @Test func conformanceListW1ToW47() throws {
        let program = try C.build("conformance.c", extra: ["-lpthread"])
        let result = try C.run(program, [C.uniqueName("conformance")], timeout: 120)
        #expect(result.status == 0 && result.output.contains(" passed, 0 failed"), "\(result.output)")
    }

    /// Readers waiting, writers writing and handles closing from 8 threads at once (also run under
    /// ThreadSanitizer by scripts/sanitize.sh thread in CI).
    @Test func eightThreadsAtOnce() throws {
        let program = try C.build("threads.c", extra: ["-lpthread"])
        let result = try C.run(program, [C.uniqueName("threads")], timeout: 120)
        #expect(result.status == 0 && result.output.contains(" passed, 0 failed"), "\(result.output)")
    }

    /// W38 when the server is another process: the client handle asks the server, and every message whose
    /// write returned is counted.
    @Test func mailslotInfoOnAClientHandleOfAnotherProcessesMailslot() throws {
        let program = try C.build("clientinfo.c")
        let name = C.uniqueName("clientinfo")
        let server = try MailslotServer(name: name, maxMessageSize: 300, readTimeout: .milliseconds(1234))
        defer { server.close() }
        let result = try C.run(program, [name])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("GetMailslotInfo max=300 next=3 count=2 timeout=1234"), "\(result.output)")
        #expect(result.output.contains("NtQueryInformationFile status=0x00000000 information=24 max=300 next=3 count=2 timeout=-12340000"),
                "\(result.output)")
        #expect(try server.read() == Array("abc".utf8))
    }

    @Test func inheritedHandleKeepsItsValueAcrossExec() throws {
        let program = try C.build("inherit.c")
        let result = try C.run(program, [C.uniqueName("inherit")])
        #expect(result.status == 0 && result.output.contains("child: 4 passed, 0 failed")
                && result.output.contains("9 passed, 0 failed"), "\(result.output)")
    }

    // MARK: programs written the way Microsoft's "Using Mailslots" pages describe

    @Test func microsoftStyleServerAndClientTalkToEachOther() throws {
        let server = try C.build("samples/ms_server.c")
        let client = try C.build("samples/ms_client.c")
        let name = C.uniqueName("ms")
        let listener = try C.Background(server, [name, "3"])
        try listener.waitFor("ready")
        let sent = try C.run(client, [name, "first message", "second", "third one"])
        #expect(sent.status == 0 && sent.output == "written 13\nwritten 6\nwritten 9\n", "\(sent.output)")
        let received = try listener.finish()
        #expect(received.status == 0, "\(received.output)")
        #expect(received.output == "ready\nmessage 1: first message\nmessage 2: second\nmessage 3: third one\n", "\(received.output)")

        let none = try C.run(client, [name + "-none", "hello"])
        #expect(none.status == 1 && none.output == "error 2\n", "\(none.output)")
    }

    @Test func microsoftStyleServerReadsWhatTheToolSends() throws {
        let server = try C.build("samples/ms_server.c")
        let name = C.uniqueName("ms-tool")
        let listener = try C.Background(server, [name, "2"])
        try listener.waitFor("ready")
        let sent = try C.run(C.tool, ["send", name, "from the tool", "and again"])
        #expect(sent.status == 0, "\(sent.output)")
        let received = try listener.finish()
        #expect(received.output == "ready\nmessage 1: from the tool\nmessage 2: and again\n", "\(received.output)")
    }

    @Test func toolListensToAMicrosoftStyleClient() throws {
        let client = try C.build("samples/ms_client.c")
        let name = C.uniqueName("tool-ms")
        let listener = try C.Background(C.tool, ["listen", name, "--count", "2", "--timeout", "10000"])
        try C.waitUntilMailslotExists(name)
        let sent = try C.run(client, [name, "one", "two"])
        #expect(sent.status == 0, "\(sent.output)")
        let received = try listener.finish()
        #expect(received.status == 0 && received.output.hasSuffix("one\ntwo\n"), "\(received.output)")
    }

    @Test func tcharAndWideFunctionsWithUnicodeDefined() throws {
        let program = try C.build("samples/ms_tchar.c", extra: ["-DUNICODE"])
        let result = try C.run(program, [C.uniqueName("tchar")])
        #expect(result.status == 0 && result.output.contains(" passed, 0 failed"), "\(result.output)")
        let narrow = try C.build("samples/ms_tchar.c", output: "ms_tchar_narrow")
        let again = try C.run(narrow, [C.uniqueName("tchar-narrow")])
        #expect(again.status == 0 && again.output.contains(" passed, 0 failed"), "\(again.output)")
    }

    @Test func cPlusPlus17CompilesAgainstTheSameHeader() throws {
        let program = try C.build("samples/cxx_compile.cpp", cplusplus: true, standard: "-std=c++17")
        let result = try C.run(program, [C.uniqueName("cxx")])
        #expect(result.status == 0 && result.output.contains(" passed, 0 failed"), "\(result.output)")
    }

    // MARK: security descriptors, across users

    /// The NETWORK SID (NU) opts the mailslot in to messages from other machines; Everyone alone does not.
    @Test func sddlNetworkAceOptsInToTheNetwork() throws {
        let program = try C.build("access.c")
        for (sddl, network) in [("D:(A;;GW;;;NU)", true), ("D:(A;;GA;;;WD)", false), ("D:(A;;GA;;;WD)(A;;GW;;;S-1-5-2)", true)] {
            let name = C.uniqueName("sddl-network")
            let server = try C.Background(program, [name, sddl, "1", "3000"])
            try server.waitFor("ready")
            let list = try C.run(C.tool, ["list", "--json", "--timeout", "10000"])
            let path = name.replacingOccurrences(of: #"\\.\mailslot\"#, with: "")
            let line = list.output.split(separator: "\n").first { $0.contains(path.replacingOccurrences(of: "\\", with: "\\\\")) }
            #expect(line?.contains("\"network\":\(network)") == true, "\(sddl): \(line ?? "not listed: \(list.output)")")
            _ = try C.run(C.tool, ["send", name, "done"])
            _ = try server.finish()
        }
    }

    @Test func sddlEveryoneLetsAnotherUserWriteAndTheDefaultDoesNot() throws {
        guard C.rootAvailable else { return }
        let program = try C.build("access.c")
        let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups", C.tool, "send"]

        let open = C.uniqueName("sddl-everyone")
        let everyone = try C.Background(program, [open, "D:(A;;GA;;;WD)", "1", "5000"])
        try everyone.waitFor("ready")
        let allowed = try C.run("/usr/bin/setpriv", nobody + [open, "hello from nobody"])
        #expect(allowed.status == 0, "\(allowed.output)")
        #expect(try everyone.finish().output.contains("message: hello from nobody"))

        let closed = C.uniqueName("sddl-default")
        let owner = try C.Background(program, [closed, "-", "1", "1500"])
        try owner.waitFor("ready")
        let refused = try C.run("/usr/bin/setpriv", nobody + [closed, "hello"])
        #expect(refused.status != 0 && refused.output.contains("error 5 ERROR_ACCESS_DENIED"), "\(refused.output)")
        #expect(try owner.finish().status == 3) // nothing arrived

        // A Linux group by its Samba SID, S-1-22-2-GID: its members may write, others not.
        let grouped = C.uniqueName("sddl-group")
        let group = try C.Background(program, [grouped, "D:(A;;GW;;;S-1-22-2-4242)", "1", "5000"])
        try group.waitFor("ready")
        let outsider = try C.run("/usr/bin/setpriv", nobody + [grouped, "not a member"])
        #expect(outsider.status != 0 && outsider.output.contains("error 5"), "\(outsider.output)")
        let member = try C.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--groups=4242", C.tool, "send", grouped, "member"])
        #expect(member.status == 0, "\(member.output)")
        #expect(try group.finish().output.contains("message: member"))
    }
}

/// Building and running the C fixtures.
enum C {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let fixtures = root + "/Tests/MailslotWin32Tests/Fixtures"
    static let include = root + "/Sources/CMailslotWin32/include"
    static let products = TestSupport.products
    static let tool = products + "/mailslot"
    static let scratch = CCompiler.scratch

    static func uniqueName(_ tag: String) -> String { TestSupport.uniqueName(tag, folder: "win32-tests") }

    static var rootAvailable: Bool { TestSupport.rootAvailable(for: "the cross-user C API tests (setpriv)") }


    /// Compiles a fixture with warnings as errors against the header and the built library.
    static func build(_ source: String, extra: [String] = [], cplusplus: Bool = false, standard: String = "-std=c11",
                      output: String? = nil) throws -> String {
        try CCompiler.build(fixtures + "/" + source, linkingMailslotWin32: true, extra: extra, cplusplus: cplusplus, standard: standard, output: output)
    }

    static var sanitizer: String? { CCompiler.sanitizer }
    static func clang(cplusplus: Bool) -> String { CCompiler.clang(cplusplus: cplusplus) }
    static var sanitizerFlags: [String] { CCompiler.sanitizerFlags }

    static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 60) throws -> TestSupport.Result {
        try TestSupport.run(path, arguments, environment: environment, timeout: timeout)
    }

    typealias Background = TestSupport.Child

    /// Waits (up to 10 s) until `mailslot list` shows the name.
    static func waitUntilMailslotExists(_ name: String) throws {
        let path = name.replacingOccurrences(of: #"\\.\mailslot\"#, with: "")
        guard try TestSupport.eventually({ try run(tool, ["list"]).output.contains(path) }) else {
            throw TestSupport.Failure("\(name) did not appear in mailslot list")
        }
    }
}
