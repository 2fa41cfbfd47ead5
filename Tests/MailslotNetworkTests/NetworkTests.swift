import Testing

/// End-to-end tests of the Remote Mailslot Protocol gateway: hosts made of network namespaces that each
/// test creates for itself, with `mailslotd`, `mailslot send`/`listen`, Samba's nmbd as a real peer and
/// tshark as an independent dissector.
///
/// Every suite is nested here so that the whole target runs one test at a time (`.serialized` applies to
/// nested suites), which keeps the load of namespaces, daemons and captures low.
///
/// Prerequisites: root, iproute2 (`ip netns`), tcpdump, tshark (with text2pcap) and samba (nmbd). A test
/// whose prerequisites are missing is skipped with a loud notice on standard error; under CI=true it runs
/// and fails instead.
@Suite("Network (namespaces, nmbd, tshark)", .serialized)
struct NetworkTests {}
