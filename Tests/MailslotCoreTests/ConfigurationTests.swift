import Testing
@testable import MailslotCore

@Suite("Network configuration")
struct ConfigurationTests {
    @Test func defaultsFromTheHostName() throws {
        let c = try MailslotConfiguration.resolve(hostname: "build-server-with-a-long-name.example.com", fileText: nil,
                                                  filePath: "/etc/mailslot.conf", environment: [:])
        #expect(c.computerName == "BUILD-SERVER-WI") // first DNS label, upper-cased, 15 characters
        #expect(c.workgroup == "WORKGROUP")
        #expect(c.interfaces.isEmpty)
        #expect(c.port == 138 && c.namePort == 137)
    }

    @Test func fileThenEnvironmentThenFlags() throws {
        let file = """
            # site settings
            computer_name = hosta
            workgroup = mstest   # trailing comment
            interfaces = eth0, 10.0.0.5
            port = 40138
            """
        var c = try MailslotConfiguration.resolve(hostname: "x", fileText: file, filePath: "f.conf",
                                                  environment: ["MAILSLOT_WORKGROUP": "other", "MAILSLOT_NAME_PORT": "40137"])
        #expect(c.computerName == "HOSTA")
        #expect(c.workgroup == "OTHER")
        #expect(c.interfaces == ["eth0", "10.0.0.5"])
        #expect(c.port == 40138 && c.namePort == 40137)
        try c.apply([("port", "50138")], source: "command line")
        #expect(c.port == 50138)
    }

    @Test func badSettingsSayWhere() {
        for (text, fragment) in [("port = 0", "port"), ("port = abc", "port"), ("colour = red", "unknown setting"),
                                 ("just words", "f.conf:1"), ("workgroup =", "f.conf:1")] {
            do {
                _ = try MailslotConfiguration.resolve(hostname: "x", fileText: text, filePath: "f.conf", environment: [:])
                Issue.record("accepted '\(text)'")
            } catch {
                #expect(error.code == .invalidParameter)
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
    }

    @Test func ipv4Addresses() {
        #expect(IPv4Address("10.99.0.255")?.description == "10.99.0.255")
        #expect(IPv4Address("10.99.0.255")?.value == 0x0A63_00FF)
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "a.b.c.d", "1..2.3", "١.2.3.4"] { #expect(IPv4Address(bad) == nil, "\(bad)") }
    }
}
