import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// tshark (Wireshark's dissectors) as an independent reader of our datagrams and of the shared nmbd vectors.
extension NetworkTests {
    @Suite("tshark as an independent dissector")
    struct TsharkDissector {
        static let port: UInt16 = 40138

        @Test("Our DIRECT_UNIQUE and DIRECT_GROUP writes dissect in tshark with the right names and data",
              .enabled(if: Prerequisites.available(.root, .netns, .tcpdump, .tshark, test: "tshark live")), .timeLimit(.minutes(1)))
        func ourDatagramsDissectInTshark() async throws {
            try Prerequisites.require(.root, .netns, .tcpdump, .tshark)
            let lab = try Lab(tag: "tshark", subnet: "10.73.0")
            defer { lab.shutdown() }
            let s = try await lab.addHost("s", octet: 1, computerName: "SENDHOST", workgroup: "MSTEST")
            let r = try await lab.addHost("r", octet: 2, computerName: "RECVHOST", workgroup: "MSTEST")
            try lab.setNameFiles(s, hostsEntries: [(r.address, r.computerName)])
            let gateway = try await lab.startGateway(r, port: Self.port)
            let uniqueSlot = #"\\.\mailslot\tshark\unique"#, groupSlot = #"\\.\mailslot\tshark\group"#
            let unique = try await lab.startListener(r, uniqueSlot)
            let group = try await lab.startListener(r, groupSlot)
            let capture = try await lab.startCapture(s, filter: "udp port \(Self.port)", name: "tshark")

            // The port comes from MAILSLOT_PORT; the group message is binary, from a file.
            let text = "unique message \(getpid())-\(lab.number)"
            let binary: [UInt8] = [0x00, 0xFF, 0x10, 0x11, 0x0A, 0x0D] + Array("group \(getpid())".utf8) + [0x00]
            let file = "\(lab.directory)/binary.msg"
            try Data(binary).write(to: URL(fileURLWithPath: file))
            // The unique write takes every setting from a configuration file (MAILSLOT_CONFIG, no other
            // MAILSLOT_* variable); the group write from the environment (MAILSLOT_COMPUTER_NAME, _WORKGROUP, _PORT).
            let config = "\(lab.directory)/sender.conf"
            try """
                # mailslot configuration for the sender
                computer_name = \(s.computerName)
                workgroup = \(s.workgroup)
                interfaces = \(s.interface)
                port = \(Self.port)
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let r1 = try await lab.exec(s, [try Products.mailslot(), "send", #"\\RECVHOST\mailslot\tshark\unique"#, text],
                                        environment: Spawn.environment(["MAILSLOT_CONFIG": config]))
            #expect(r1.status == 0, "\(r1)")
            let r2 = try await lab.send(s, #"\\MSTEST\mailslot\tshark\group"#, [], extraArguments: ["--file", file],
                                        environment: ["MAILSLOT_PORT": "\(Self.port)"])
            #expect(r2.status == 0, "\(r2)")
            let gotText = await Listener.waitFor(unique) { $0.text == text }
            let gotBinary = await Listener.waitFor(group) { $0.data == binary }
            #expect(gotText != nil && gotBinary != nil, "not delivered: \(Listener.messages(unique)) \(Listener.messages(group))\n\(gateway.tail())")
            _ = await Wait.until(timeout: 5) { capture.packetsSoFar().count >= 2 }
            _ = try capture.stop()

            let fields = ["nbdgm.type", "nbdgm.src.ip", "nbdgm.source_name", "nbdgm.destination_name", "mailslot.opcode",
                          "mailslot.class", "mailslot.name", "smb.dc", "data.data"]
            let rows = try await TsharkTool.fields(pcap: capture.path, fields: fields, port: Self.port, displayFilter: "mailslot",
                                                      directory: lab.directory)
            try #require(rows.count == 2, "tshark found \(rows.count) mailslot datagrams: \(rows)")
            let expected: [[String]] = [
                ["16", s.address, "SENDHOST<00>", "RECVHOST<00>", "1", "2", #"\MAILSLOT\TSHARK\UNIQUE"#, "\(text.utf8.count)", Array(text.utf8).hex],
                ["17", s.address, "SENDHOST<00>", "MSTEST<00>", "1", "2", #"\MAILSLOT\TSHARK\GROUP"#, "\(binary.count)", binary.hex],
            ]
            for (row, want) in zip(rows, expected) {
                // The mailslot name is compared without case (it is case-insensitive on the wire).
                let normalized = row.enumerated().map { $0.offset == 6 ? $0.element.uppercased() : $0.element }
                #expect(normalized == want, "tshark: \(row)")
            }
        }

        @Test("Every shared nmbd vector: tshark and `mailslot decode` agree on the mailslot name",
              .enabled(if: Prerequisites.available(.tshark, .text2pcap, test: "vectors through tshark")), .timeLimit(.minutes(1)))
        func sharedVectorsDecodeTheSameInTsharkAndMailslotDecode() async throws {
            try Prerequisites.require(.tshark, .text2pcap)
            let fixtures = try Fixtures.directory
            let directory = NSTemporaryDirectory() + "mailslot-net-\(getpid())-vectors"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }

            let vectorDirectory = fixtures.appendingPathComponent("vectors/nmbd")
            let files = try FileManager.default.contentsOfDirectory(atPath: vectorDirectory.path).filter { $0.hasSuffix(".hex") }.sorted()
            #expect(files.count == 36)
            var vectors: [(name: String, bytes: [UInt8])] = try files.map { file in
                let text = try String(contentsOf: vectorDirectory.appendingPathComponent(file), encoding: .utf8)
                return (file, try #require([UInt8](hex: text), "\(file) is not hex"))
            }
            let worked = try String(contentsOf: fixtures.appendingPathComponent("vectors/worked-example-HOSTA-to-HOSTB-TEST.hex"), encoding: .utf8)
            vectors.append(("worked-example-HOSTA-to-HOSTB-TEST.hex", try #require([UInt8](hex: worked))))

            // index.tsv (from the capture the vectors were cut from): file → mailslot name.
            let index = try String(contentsOf: vectorDirectory.appendingPathComponent("index.tsv"), encoding: .utf8)
                .split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            var indexed: [String: String] = [:]
            for row in index where row.count >= 10 { indexed[row[0]] = row[9] }

            let pcap = directory + "/vectors.pcap"
            try await TsharkTool.text2pcap(vectors.map(\.bytes), output: pcap, directory: directory)
            let rows = try await TsharkTool.fields(pcap: pcap, fields: ["frame.number", "nbdgm.type", "mailslot.name", "smb.trans_name", "smb.dc"],
                                                      directory: directory)
            try #require(rows.count == vectors.count, "tshark read \(rows.count) frames for \(vectors.count) vectors")

            let tool = try Products.mailslot()
            for (i, vector) in vectors.enumerated() {
                let row = rows[i]
                let tsharkMailslot = row[2], tsharkTransName = row[3]
                if let fromIndex = indexed[vector.name] {
                    #expect(tsharkMailslot == fromIndex, "\(vector.name): tshark says '\(tsharkMailslot)', index.tsv '\(fromIndex)'")
                }
                let decoded = try await Run.command([tool, "decode", vector.bytes.hex], directory: directory, timeout: 20)
                let ours = Decode.mailslotName(decoded.stdout)
                if tsharkMailslot.isEmpty {
                    // Only the malformed vector (DataCount 1024 in a 97-byte datagram): tshark finds the
                    // transaction name but no mailslot data; our decoder must reject it.
                    #expect(vector.name.contains("MALFORMED"), "\(vector.name): tshark found no mailslot write")
                    #expect(decoded.status != 0, "\(vector.name): mailslot decode accepted a malformed datagram:\n\(decoded.stdout)")
                    #expect(!tsharkTransName.isEmpty)
                } else {
                    #expect(decoded.status == 0, "\(vector.name): mailslot decode failed: \(decoded)")
                    #expect(ours == tsharkMailslot, "\(vector.name): mailslot decode says '\(ours ?? "nothing")', tshark '\(tsharkMailslot)'\n\(decoded.stdout)")
                }
            }
        }
    }
}


/// Reads `mailslot decode` output.
enum Decode {
    /// The `MailslotName` field of `mailslot decode`'s output, e.g. `  MailslotName   \MAILSLOT\BROWSE`.
    static func mailslotName(_ output: String) -> String? {
        for line in output.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("MailslotName") else { continue }
            return trimmed.dropFirst("MailslotName".count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
