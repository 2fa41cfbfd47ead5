/// The release of this package (the tools' --version, the pkg-config file, the manual pages).
public enum MailslotVersion {
    public static let string = "0.5.0"
}
