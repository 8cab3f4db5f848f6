"""The SSRF table: every spelling of an internal address that the guarded client must refuse."""

# How the host is written in a URL, the address it stands for, and what the refusal calls it.
SSRF_TABLE = [
    # IPv4 loopback, in every spelling browsers and inet_aton accept.
    ("127.0.0.1", "127.0.0.1", "loopback"),
    ("127.1", "127.0.0.1", "loopback"),
    ("127.0.1", "127.0.0.1", "loopback"),
    ("2130706433", "127.0.0.1", "loopback"),
    ("0x7f000001", "127.0.0.1", "loopback"),
    ("0x7f.0.0.1", "127.0.0.1", "loopback"),
    ("0x7F.1", "127.0.0.1", "loopback"),
    ("0x7f.0x0.0x0.0x1", "127.0.0.1", "loopback"),
    ("017700000001", "127.0.0.1", "loopback"),
    ("0177.1", "127.0.0.1", "loopback"),
    ("127.0.0.1.", "127.0.0.1", "loopback"),
    ("127.255.255.254", "127.255.255.254", "loopback"),
    ("127\u30020\u30020\u30021", "127.0.0.1", "loopback"),  # ideographic full stops
    # Nothing, everything, the cloud metadata address.
    ("0", "0.0.0.0", "unspecified"),  # noqa: S104 (a URL host, not a bind)
    ("0x0", "0.0.0.0", "unspecified"),  # noqa: S104 (a URL host, not a bind)
    ("0.0.0.0.", "0.0.0.0", "unspecified"),  # noqa: S104 (a URL host, not a bind)
    ("169.254.169.254", "169.254.169.254", "link-local"),
    ("2852039166", "169.254.169.254", "link-local"),
    ("0xa9fea9fe", "169.254.169.254", "link-local"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254", "link-local"),
    ("169.254.169.254.", "169.254.169.254", "link-local"),
    ("255.255.255.255", "255.255.255.255", "broadcast"),
    ("224.0.0.1", "224.0.0.1", "multicast"),
    ("239.255.255.250", "239.255.255.250", "multicast"),
    # Private and special-purpose IPv4, including ranges Python's is_global calls global.
    ("10.1", "10.0.0.1", "private"),
    ("0xa.0.0.1", "10.0.0.1", "private"),
    ("167772161", "10.0.0.1", "private"),
    ("172.16.0.1", "172.16.0.1", "private"),
    ("3232235777", "192.168.1.1", "private"),
    ("100.64.0.1", "100.64.0.1", "shared"),
    ("192.0.0.8", "192.0.0.8", "IETF protocol"),
    ("192.0.0.170", "192.0.0.170", "IETF protocol"),
    ("192.88.99.1", "192.88.99.1", "6to4 relay"),
    ("192.31.196.1", "192.31.196.1", "AS112"),
    ("192.52.193.1", "192.52.193.1", "AMT"),
    ("192.175.48.1", "192.175.48.1", "AS112"),
    ("198.18.0.1", "198.18.0.1", "benchmarking"),
    ("192.0.2.1", "192.0.2.1", "documentation"),
    ("198.51.100.7", "198.51.100.7", "documentation"),
    ("203.0.113.9", "203.0.113.9", "documentation"),
    ("240.0.0.1", "240.0.0.1", "reserved"),
    # IPv6, and the IPv6 forms that lead to an IPv4 address.
    ("[::1]", "::1", "loopback"),
    ("[0:0:0:0:0:0:0:1]", "::1", "loopback"),
    ("[::]", "::", "unspecified"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "loopback"),
    ("[::ffff:7f00:1]", "::ffff:127.0.0.1", "loopback"),
    ("[::ffff:a9fe:a9fe]", "::ffff:169.254.169.254", "link-local"),
    ("[::ffff:0.0.0.0]", "::ffff:0.0.0.0", "unspecified"),
    ("[::127.0.0.1]", "::7f00:1", "loopback"),
    ("[::ffff:0:127.0.0.1]", "::ffff:0:7f00:1", "loopback"),
    ("[64:ff9b::127.0.0.1]", "64:ff9b::7f00:1", "loopback"),
    ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe", "link-local"),
    ("[64:ff9b:1::a00:1]", "64:ff9b:1::a00:1", "local-use NAT64"),
    ("[2002:7f00:1::]", "2002:7f00:1::", "loopback"),
    ("[2002:c0a8:101::1]", "2002:c0a8:101::1", "private"),
    ("[2002:a9fe:a9fe::]", "2002:a9fe:a9fe::", "link-local"),
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]", "2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
    ("[fe80::1]", "fe80::1", "link-local"),
    ("[fc00::1]", "fc00::1", "private"),
    ("[fd12:3456::1]", "fd12:3456::1", "private"),
    ("[fec0::1]", "fec0::1", "site-local"),
    ("[3fff::1]", "3fff::1", "documentation"),
    ("[2001:db8::1]", "2001:db8::1", "documentation"),
    ("[100::1]", "100::1", "discard-only"),
    ("[5f00::1]", "5f00::1", "segment routing"),
    ("[ff02::1]", "ff02::1", "multicast"),
    # Zone ids, on a link-local and on a public address.
    ("[fe80::1%25eth0]", "fe80::1%eth0", "zone id"),
    ("[2606:4700::1%25eth0]", "2606:4700::1%eth0", "zone id"),
]
# Refused even in insecure mode, which otherwise allows loopback and private addresses for local platforms.
ALWAYS_REFUSED = ("unspecified", "link-local", "broadcast", "multicast", "zone id")
