import Foundation
import MailslotTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// scripts/install.sh: the tree it installs, a C program built with pkg-config alone, the unit checked
/// by systemd-analyze, the manual pages, the configuration file it never overwrites, and an uninstall
/// that removes exactly what it installed.
@Suite("Install")
struct InstallTests {
    @Test func installsTheTreeAndUninstallsExactlyIt() throws {
        let prefix = try TestSupport.temporaryFolder("mailslot-prefix")
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let environment = ["PREFIX": prefix, "SYSCONFDIR": prefix + "/etc"]
        let install = try TestSupport.run("/bin/bash", [C.root + "/scripts/install.sh", "--from", C.products], environment: environment, timeout: 600)
        #expect(install.status == 0, "\(install.output)")
        for file in ["bin/mailslot", "bin/mailslotd", "lib/libMailslotWin32.so", "include/mailslot_win32.h",
                     "lib/pkgconfig/mailslot-win32.pc", "lib/systemd/system/mailslotd.service", "lib/systemd/system/mailslot-files.service", "lib/sysusers.d/mailslot.conf",
                     "share/man/man1/mailslot.1", "share/man/man8/mailslotd.8", "share/man/man3/mailslot_win32.3",
                     "etc/mailslot.conf", "share/mailslot/install-manifest.txt"] {
            #expect(FileManager.default.fileExists(atPath: prefix + "/" + file), "\(file) is not installed")
        }

        // The whole build line of a C program is pkg-config's.
        let pkgConfig = ["PKG_CONFIG_PATH": prefix + "/lib/pkgconfig"]
        let output = C.scratch + "/installed-sample"
        // Under `swift test --sanitize=...` the library needs the same sanitizer in the program (clang's).
        let cc = C.sanitizer == nil ? "cc" : C.clang(cplusplus: false)
        let compile = try TestSupport.run("/bin/sh", ["-c", "\(cc) -std=c11 -Wall -Wextra -Werror '\(C.fixtures)/win32_sample.c' $(pkg-config --cflags --libs mailslot-win32) \(C.sanitizerFlags.joined(separator: " ")) -o '\(output)'"],
                                          environment: pkgConfig)
        #expect(compile.status == 0, "\(compile.output)")
        let ldd = try TestSupport.run("/usr/bin/ldd", [output])
        #expect(ldd.output.contains(prefix + "/lib/libMailslotWin32.so"), "\(ldd.output)")
        let ran = try TestSupport.run(output, [C.uniqueName("installed")])
        #expect(ran.status == 0 && ran.output.contains(" passed, 0 failed"), "\(ran.output)")

        // The installed binaries run, and read the installed configuration.
        let version = try TestSupport.run(prefix + "/bin/mailslot", ["--version"])
        #expect(version.status == 0 && !version.output.isEmpty)
        let check = try TestSupport.run(prefix + "/bin/mailslotd", ["--check-config"], environment: ["MAILSLOT_CONFIG": prefix + "/etc/mailslot.conf"])
        #expect(check.status == 0 && check.output.contains("workgroup = WORKGROUP"), "\(check.output)")

        // The unit names the installed binary and configuration, and systemd accepts it.
        let unit = try String(contentsOfFile: prefix + "/lib/systemd/system/mailslotd.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=\(prefix)/bin/mailslotd") && unit.contains("MAILSLOT_CONFIG=\(prefix)/etc/mailslot.conf"))
        #expect(unit.contains("Type=notify") && unit.contains("User=mailslot") && unit.contains("CapabilityBoundingSet=CAP_NET_BIND_SERVICE"))
        if TestSupport.programAvailable("/usr/bin/systemd-analyze", for: "systemd-analyze verify and security", install: "systemd") {
            let verify = try TestSupport.run("/usr/bin/systemd-analyze", ["verify", prefix + "/lib/systemd/system/mailslotd.service"],
                                             environment: ["MANPATH": prefix + "/share/man:"])
            #expect(verify.status == 0 && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)")
            let security = try TestSupport.run("/usr/bin/systemd-analyze", ["security", "--offline=true", "--threshold=30",
                                                                             prefix + "/lib/systemd/system/mailslotd.service"])
            let rating = security.output.split(separator: "\n").first { $0.contains("Overall exposure level") }
            #expect(rating != nil && security.status == 0, "systemd-analyze security: \(security.output)")
            print("systemd-analyze security: \(rating ?? "no rating")")
            // The file system's unit: root, but CAP_SYS_ADMIN alone, and systemd accepts it too.
            let files = prefix + "/lib/systemd/system/mailslot-files.service"
            let filesUnit = try String(contentsOfFile: files, encoding: .utf8)
            #expect(filesUnit.contains("ExecStart=\(prefix)/bin/mailslot mount /run/mailslot") && filesUnit.contains("CapabilityBoundingSet=CAP_SYS_ADMIN"))
            let verifyFiles = try TestSupport.run("/usr/bin/systemd-analyze", ["verify", files], environment: ["MANPATH": prefix + "/share/man:"])
            #expect(verifyFiles.status == 0 && verifyFiles.output.isEmpty, "systemd-analyze verify: \(verifyFiles.output)")
            let filesSecurity = try TestSupport.run("/usr/bin/systemd-analyze", ["security", "--offline=true", "--threshold=60", files])
            let filesRating = filesSecurity.output.split(separator: "\n").first { $0.contains("Overall exposure level") }
            #expect(filesRating != nil && filesSecurity.status == 0, "systemd-analyze security: \(filesSecurity.output)")
            print("systemd-analyze security (mailslot-files): \(filesRating ?? "no rating")")
        }
        // Manual pages render.
        for page in ["man1/mailslot.1", "man8/mailslotd.8", "man3/mailslot_win32.3"] {
            let rendered = try TestSupport.run("/bin/sh", ["-c", "man -l '\(prefix)/share/man/\(page)' 2>/dev/null | head -5"], environment: ["MANWIDTH": "80"])
            #expect(rendered.output.uppercased().contains("MAILSLOT"), "\(page): \(rendered.output)")
        }

        // A changed configuration survives a second install and the uninstall; everything else goes.
        try "workgroup = MINE\n".write(toFile: prefix + "/etc/mailslot.conf", atomically: true, encoding: .utf8)
        let again = try TestSupport.run("/bin/bash", [C.root + "/scripts/install.sh", "--from", C.products], environment: environment, timeout: 600)
        #expect(again.status == 0 && again.output.contains("keeping the existing"), "\(again.output)")
        #expect(try String(contentsOfFile: prefix + "/etc/mailslot.conf", encoding: .utf8) == "workgroup = MINE\n")
        let uninstall = try TestSupport.run("/bin/bash", [C.root + "/scripts/install.sh", "uninstall"], environment: environment)
        #expect(uninstall.status == 0, "\(uninstall.output)")
        let left = (FileManager.default.enumerator(atPath: prefix)?.allObjects as? [String] ?? []).sorted()
        #expect(left == ["etc", "etc/mailslot.conf"], "uninstall left \(left)")
    }

    /// A fresh install's configuration file, untouched, goes with the uninstall.
    @Test func anUnchangedConfigurationGoesWithTheUninstall() throws {
        let destdir = try TestSupport.temporaryFolder("mailslot-destdir")
        defer { try? FileManager.default.removeItem(atPath: destdir) }
        let environment = ["PREFIX": "/usr/local", "DESTDIR": destdir]
        let install = try TestSupport.run("/bin/bash", [C.root + "/scripts/install.sh", "--from", C.products], environment: environment, timeout: 600)
        #expect(install.status == 0, "\(install.output)")
        #expect(FileManager.default.fileExists(atPath: destdir + "/etc/mailslot.conf"))
        #expect(FileManager.default.fileExists(atPath: destdir + "/usr/local/bin/mailslotd"))
        let uninstall = try TestSupport.run("/bin/bash", [C.root + "/scripts/install.sh", "uninstall"], environment: environment)
        #expect(uninstall.status == 0, "\(uninstall.output)")
        let left = (FileManager.default.enumerator(atPath: destdir)?.allObjects as? [String] ?? []).filter { !$0.hasPrefix("usr") || $0.split(separator: "/").count > 2 }
        #expect(left.isEmpty, "uninstall left \(left)")
    }
}
