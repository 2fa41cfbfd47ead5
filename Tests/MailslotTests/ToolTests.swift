import Foundation
import Mailslot
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("The mailslot tool")
struct ToolTests {
    @Test func listenPrintsJSONAndSendTakesArgumentsStdinFileAndEmpty() throws {
        let name = Support.uniqueName("cli")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-cli-\(getpid()).txt").path
        let pid = try Support.spawn(Support.tool, ["listen", name, "--count", "6", "--json"], stdoutPath: out)
        #expect(Support.waitForMailslot(name))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-cli-\(getpid()).bin").path
        try Data([0, 1, 2, 0xFF]).write(to: URL(fileURLWithPath: file))
        let r1 = try Support.run(Support.tool, ["send", name, "hello", "wörld"])
        #expect(r1.status == 0, "\(r1.stderr)")
        let r2 = try Support.run(Support.tool, ["send", name], stdin: "line one\nline two\n")
        #expect(r2.status == 0, "\(r2.stderr)")
        let r3 = try Support.run(Support.tool, ["send", name, "--file", file, "--empty"])
        #expect(r3.status == 0, "\(r3.stderr)")
        #expect(Support.wait(pid) == 0)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6)
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.map { $0["text"] as? String } == ["hello", "wörld", "line one", "line two", nil, ""])
        #expect(objects.map { $0["size"] as? Int } == [5, 6, 8, 8, 4, 0])
        #expect(objects[4]["data"] as? String == "AAEC/w==")
        #expect(objects[5]["data"] as? String == "")
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: file)
    }

    @Test func listenPrintsTextLines() throws {
        let name = Support.uniqueName("cli-text")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mailslot-cli-text-\(getpid()).txt").path
        let pid = try Support.spawn(Support.tool, ["listen", name, "--count", "2"], stdoutPath: out)
        #expect(Support.waitForMailslot(name))
        #expect(try Support.run(Support.tool, ["send", name, "a b c", "d"]).status == 0)
        #expect(Support.wait(pid) == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "a b c\nd\n")
        try? FileManager.default.removeItem(atPath: out)
    }

    @Test func listenTimesOutWithError121() throws {
        let r = try Support.run(Support.tool, ["listen", Support.uniqueName("cli-timeout"), "--timeout", "200"])
        #expect(r.status != 0)
        #expect(r.stderr.hasPrefix("error 121 ERROR_SEM_TIMEOUT: "), "\(r.stderr)")
    }

    @Test func failuresPrintTheDocumentedErrorLine() throws {
        let missing = try Support.run(Support.tool, ["send", Support.uniqueName("cli-missing"), "x"])
        #expect(missing.status != 0)
        #expect(missing.stderr.hasPrefix("error 2 ERROR_FILE_NOT_FOUND: "), "\(missing.stderr)")
        let bad = try Support.run(Support.tool, ["listen", "not-a-name", "--timeout", "1"])
        #expect(bad.stderr.hasPrefix("error 123 ERROR_INVALID_NAME: "), "\(bad.stderr)")
        let name = Support.uniqueName("cli-dup")
        let s = try MailslotServer(name: name, maxMessageSize: 3)
        defer { s.close() }
        let dup = try Support.run(Support.tool, ["listen", name, "--timeout", "1"])
        #expect(dup.stderr.hasPrefix("error 183 ERROR_ALREADY_EXISTS: "), "\(dup.stderr)")
        let big = try Support.run(Support.tool, ["send", name, "four"])
        #expect(big.stderr.hasPrefix("error 4336 ERROR_MESSAGE_EXCEEDS_MAX_SIZE: "), "\(big.stderr)")
    }

    @Test func listShowsLiveMailslotsWithTheirServerPID() throws {
        let name = Support.uniqueName("cli-list")
        let s = try MailslotServer(name: name)
        defer { s.close() }
        let r = try Support.run(Support.tool, ["list", "--timeout", "10000"])
        #expect(r.status == 0)
        let line = r.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        #expect(line?.contains(" \(getpid()) ") == true, "\(r.stdout)")
        let json = try Support.run(Support.tool, ["list", "--json", "--timeout", "10000"])
        #expect(json.stdout.contains("\"pids\":[\(getpid())]"))
    }

    @Test func theDemoRunsEndToEnd() throws {
        let r = try Support.run(Support.tool, ["demo"], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        for expected in ["[10] (zero-length message)", "error 121 ERROR_SEM_TIMEOUT", "error 183 ERROR_ALREADY_EXISTS",
                         "error 2 ERROR_FILE_NOT_FOUND", "error 123 ERROR_INVALID_NAME", "error 4336", "error 122",
                         "error 109 ERROR_BROKEN_PIPE", "create it again: ok"] {
            #expect(r.stdout.contains(expected), "demo output lacks \(expected)")
        }
        #expect(!r.stdout.contains("(unexpected)"))
    }
}

@Suite("The mailslot tool, network side")
struct ToolNetworkTests {
    @Test func decodePrintsEveryFieldOfTheWorkedExample() throws {
        let hex = "100e1234c0a8010a008a009d00002045494550464446454542434143414341434143414341434143414341434141410020454945504644464545434341434143414341434143414341434143414341414100ff534d4225000000001804000000000000000000000000000000fffe00000000110000050002000000000002000000000000000000540005005400030001000000020014005c4d41494c534c4f545c544553540048656c6c6f"
        let r = try Support.run(Support.tool, ["decode", hex])
        #expect(r.status == 0, "\(r.stderr)")
        for field in ["DIRECT_UNIQUE", "HOSTA<00>", "HOSTB<00>", "SMB_COM_TRANSACTION", "DataOffset            84", "TEST", "Hello"] {
            #expect(r.stdout.contains(field), "decode output lacks \(field)")
        }
        let bad = try Support.run(Support.tool, ["decode", String(hex.dropLast(4))])
        #expect(bad.status != 0)
        #expect(bad.stderr.hasPrefix("error 87 ERROR_INVALID_PARAMETER: not a valid mailslot datagram (data_out_of_bounds)"), "\(bad.stderr)")
    }

    @Test func anOversizeDomainWriteFailsWith53AndSendsNothing() throws {
        let r = try Support.run(Support.tool, ["send", #"\\*\mailslot\t"#, String(repeating: "x", count: 429), "--interface", "lo"])
        #expect(r.status != 0)
        #expect(r.stderr.hasPrefix("error 53 ERROR_BAD_NETPATH: the message is 429 bytes"), "\(r.stderr)")
    }

    @Test func openingARemoteNameAlwaysSucceeds() throws {
        let w = try MailslotWriter(opening: #"\\NOSUCHHOST\mailslot\t"#,
                                   options: .init(configuration: MailslotConfiguration(computerName: "ME", interfaces: ["lo"], resolveTimeoutMilliseconds: 100)))
        #expect(w.destination == .computer("NOSUCHHOST"))
        #expect(w.maxMessageSize == 428)
        // Nothing answers for it on loopback: the write says so instead of pretending.
        #expect(MailslotError.code { try w.write("x") } == .badNetPath)
    }

    /// Two different byte strings must never name one mailslot: a name that is not UTF-8 is refused.
    @Test func aNameThatIsNotUTF8IsRefused() throws {
        let r = try Support.run("/bin/bash", ["-c", #"exec "$0" listen $'\\\\.\\mailslot\\\xff' --timeout 100"#, Support.tool])
        #expect(r.status != 0)
        #expect(r.stderr.hasPrefix("error 123 ERROR_INVALID_NAME") && r.stderr.contains("UTF-8"), "\(r.stderr)")
    }
}
