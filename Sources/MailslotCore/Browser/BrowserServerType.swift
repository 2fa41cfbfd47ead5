/// The ServerType word of browser announcements: which services a host runs and which browser role it
/// holds ([MS-RAP] 2.5.5.2.1, [MS-SRVS] 2.2.2.7 "Software Type Flags"). Little-endian on the wire.
///
/// ```
/// let type = BrowserServerType(rawValue: 0x0081_9a03)       // what Samba's nmbd announces
/// type.contains(.potentialBrowser)                          // true
/// type.names                                               // ["SV_TYPE_WORKSTATION", "SV_TYPE_SERVER", ...]
/// ```
public struct BrowserServerType: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// SV_TYPE_WORKSTATION: runs the Workstation service.
    public static let workstation = BrowserServerType(rawValue: 0x0000_0001)
    /// SV_TYPE_SERVER: runs the Server service (shares files).
    public static let server = BrowserServerType(rawValue: 0x0000_0002)
    /// SV_TYPE_SQLSERVER.
    public static let sqlServer = BrowserServerType(rawValue: 0x0000_0004)
    /// SV_TYPE_DOMAIN_CTRL: a primary domain controller.
    public static let domainController = BrowserServerType(rawValue: 0x0000_0008)
    /// SV_TYPE_DOMAIN_BAKCTRL: a backup domain controller.
    public static let backupDomainController = BrowserServerType(rawValue: 0x0000_0010)
    /// SV_TYPE_TIME_SOURCE: a network time source.
    public static let timeSource = BrowserServerType(rawValue: 0x0000_0020)
    /// SV_TYPE_AFP: an Apple File Protocol server.
    public static let appleFileProtocol = BrowserServerType(rawValue: 0x0000_0040)
    /// SV_TYPE_NOVELL.
    public static let novell = BrowserServerType(rawValue: 0x0000_0080)
    /// SV_TYPE_DOMAIN_MEMBER: a LAN Manager 2.x domain member.
    public static let domainMember = BrowserServerType(rawValue: 0x0000_0100)
    /// SV_TYPE_PRINTQ_SERVER: shares print queues.
    public static let printQueueServer = BrowserServerType(rawValue: 0x0000_0200)
    /// SV_TYPE_DIALIN_SERVER.
    public static let dialInServer = BrowserServerType(rawValue: 0x0000_0400)
    /// SV_TYPE_SERVER_UNIX (also called SV_TYPE_XENIX_SERVER): Samba sets it.
    public static let unixServer = BrowserServerType(rawValue: 0x0000_0800)
    /// SV_TYPE_NT: a Windows NT family system.
    public static let nt = BrowserServerType(rawValue: 0x0000_1000)
    /// SV_TYPE_WFW: Windows for Workgroups.
    public static let windowsForWorkgroups = BrowserServerType(rawValue: 0x0000_2000)
    /// SV_TYPE_SERVER_MFPN: Microsoft File and Print for NetWare.
    public static let fileAndPrintForNetWare = BrowserServerType(rawValue: 0x0000_4000)
    /// SV_TYPE_SERVER_NT: a Windows NT server that is not a domain controller.
    public static let ntServer = BrowserServerType(rawValue: 0x0000_8000)
    /// SV_TYPE_POTENTIAL_BROWSER: can run the browser service.
    public static let potentialBrowser = BrowserServerType(rawValue: 0x0001_0000)
    /// SV_TYPE_BACKUP_BROWSER: a backup browser.
    public static let backupBrowser = BrowserServerType(rawValue: 0x0002_0000)
    /// SV_TYPE_MASTER_BROWSER: the local master browser of its workgroup.
    public static let masterBrowser = BrowserServerType(rawValue: 0x0004_0000)
    /// SV_TYPE_DOMAIN_MASTER: the domain master browser.
    public static let domainMasterBrowser = BrowserServerType(rawValue: 0x0008_0000)
    /// SV_TYPE_SERVER_OSF.
    public static let osfServer = BrowserServerType(rawValue: 0x0010_0000)
    /// SV_TYPE_SERVER_VMS.
    public static let vmsServer = BrowserServerType(rawValue: 0x0020_0000)
    /// SV_TYPE_WINDOWS: Windows 95 or later.
    public static let windows = BrowserServerType(rawValue: 0x0040_0000)
    /// SV_TYPE_DFS: a DFS root.
    public static let dfs = BrowserServerType(rawValue: 0x0080_0000)
    /// SV_TYPE_CLUSTER_NT: a server cluster.
    public static let clusterNT = BrowserServerType(rawValue: 0x0100_0000)
    /// SV_TYPE_TERMINALSERVER.
    public static let terminalServer = BrowserServerType(rawValue: 0x0200_0000)
    /// SV_TYPE_CLUSTER_VS_NT: a cluster virtual server.
    public static let clusterVirtualServer = BrowserServerType(rawValue: 0x0400_0000)
    /// SV_TYPE_DCE: an IBM DSS (Directory and Security Services) server.
    public static let dce = BrowserServerType(rawValue: 0x1000_0000)
    /// SV_TYPE_ALTERNATE_XPORT: returned on an alternate transport.
    public static let alternateTransport = BrowserServerType(rawValue: 0x2000_0000)
    /// SV_TYPE_LOCAL_LIST_ONLY: listed only by the local master browser of this subnet.
    public static let localListOnly = BrowserServerType(rawValue: 0x4000_0000)
    /// SV_TYPE_DOMAIN_ENUM: a workgroup or domain (set in DomainAnnouncements).
    public static let domainEnum = BrowserServerType(rawValue: 0x8000_0000)

    /// Every defined flag in bit order, with its Windows constant name and a short label for tables.
    public static let definitions: [(flag: BrowserServerType, name: String, label: String)] = [
        (.workstation, "SV_TYPE_WORKSTATION", "workstation"),
        (.server, "SV_TYPE_SERVER", "server"),
        (.sqlServer, "SV_TYPE_SQLSERVER", "sql"),
        (.domainController, "SV_TYPE_DOMAIN_CTRL", "dc"),
        (.backupDomainController, "SV_TYPE_DOMAIN_BAKCTRL", "bdc"),
        (.timeSource, "SV_TYPE_TIME_SOURCE", "time"),
        (.appleFileProtocol, "SV_TYPE_AFP", "afp"),
        (.novell, "SV_TYPE_NOVELL", "novell"),
        (.domainMember, "SV_TYPE_DOMAIN_MEMBER", "member"),
        (.printQueueServer, "SV_TYPE_PRINTQ_SERVER", "print"),
        (.dialInServer, "SV_TYPE_DIALIN_SERVER", "dialin"),
        (.unixServer, "SV_TYPE_SERVER_UNIX", "unix"),
        (.nt, "SV_TYPE_NT", "nt"),
        (.windowsForWorkgroups, "SV_TYPE_WFW", "wfw"),
        (.fileAndPrintForNetWare, "SV_TYPE_SERVER_MFPN", "mfpn"),
        (.ntServer, "SV_TYPE_SERVER_NT", "nt-server"),
        (.potentialBrowser, "SV_TYPE_POTENTIAL_BROWSER", "potential-browser"),
        (.backupBrowser, "SV_TYPE_BACKUP_BROWSER", "backup-browser"),
        (.masterBrowser, "SV_TYPE_MASTER_BROWSER", "master-browser"),
        (.domainMasterBrowser, "SV_TYPE_DOMAIN_MASTER", "domain-master"),
        (.osfServer, "SV_TYPE_SERVER_OSF", "osf"),
        (.vmsServer, "SV_TYPE_SERVER_VMS", "vms"),
        (.windows, "SV_TYPE_WINDOWS", "windows"),
        (.dfs, "SV_TYPE_DFS", "dfs"),
        (.clusterNT, "SV_TYPE_CLUSTER_NT", "cluster"),
        (.terminalServer, "SV_TYPE_TERMINALSERVER", "terminal-server"),
        (.clusterVirtualServer, "SV_TYPE_CLUSTER_VS_NT", "cluster-vs"),
        (.dce, "SV_TYPE_DCE", "dce"),
        (.alternateTransport, "SV_TYPE_ALTERNATE_XPORT", "alternate-transport"),
        (.localListOnly, "SV_TYPE_LOCAL_LIST_ONLY", "local-list-only"),
        (.domainEnum, "SV_TYPE_DOMAIN_ENUM", "domain-enum"),
    ]

    /// All bits that have a definition.
    public static let definedBits: UInt32 = definitions.reduce(0) { $0 | $1.flag.rawValue }

    /// The Windows constant names of the defined bits that are set, in bit order.
    public var names: [String] {
        Self.definitions.filter { contains($0.flag) }.map(\.name)
    }

    /// Short labels of the defined bits that are set (`workstation`, `master-browser`, ...), then each
    /// undefined bit as `0x08000000`.
    public var labels: [String] {
        Self.definitions.filter { contains($0.flag) }.map(\.label) + unknownBits.map { WireBytes.hex32($0) }
    }

    /// Each set bit that has no definition, as a one-bit value, lowest first.
    public var unknownBits: [UInt32] {
        let unknown = rawValue & ~Self.definedBits
        return (0..<32).compactMap { bit in unknown & (1 << bit) != 0 ? UInt32(1) << UInt32(bit) : nil }
    }

    /// `0x00819a03 (SV_TYPE_WORKSTATION, SV_TYPE_SERVER, ...)`; `0x00000000 (none: the host is leaving)`.
    public var description: String {
        let parts = names + unknownBits.map { "unknown " + WireBytes.hex32($0) }
        return WireBytes.hex32(rawValue) + " (" + (parts.isEmpty ? "none" : parts.joined(separator: ", ")) + ")"
    }
}
