"""The webhook address policy (commands/targets.py): every spelling of an inward address is refused, public
ones pass, and the private-networks switch opens only what it should."""

import ipaddress

import pytest

from commands import targets

INWARD = [
    "http://127.0.0.1/hook",
    "http://127.0.0.2:8080/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://017700000001/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.0.10/",
    "http://[fc00::1]/",
    "http://[fe80::1%25eth0]/",
    "http://169.254.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
]
METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://Metadata.Google.Internal./",
    "http://metadata/",
    "http://100.100.100.200/",
]
PUBLIC = ["https://shop.example.com/hook", "http://8.8.8.8/", "https://[2606:4700::1111]/x", "http://1e100.net/"]


def check(url: str, *, allow_private: bool = False, require_https: bool = False) -> None:
    targets.check_url(url, allow_private=allow_private, require_https=require_https)


@pytest.mark.parametrize("url", INWARD + METADATA)
def test_inward_addresses_in_every_spelling_are_refused(url: str) -> None:
    with pytest.raises(targets.Refused, match="must not point to"):
        check(url)


@pytest.mark.parametrize("url", PUBLIC)
def test_public_destinations_pass(url: str) -> None:
    check(url)


@pytest.mark.parametrize("url", INWARD)
def test_allowing_private_networks_opens_inward_addresses(url: str) -> None:
    check(url, allow_private=True)


@pytest.mark.parametrize("url", METADATA)
def test_metadata_stays_refused_even_when_private_networks_are_allowed(url: str) -> None:
    with pytest.raises(targets.Refused, match="metadata"):
        check(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    ["http://user:pass@example.com/", "https://user@example.com/", "http://:pw@example.com/", "http://a@8.8.8.8/"],
)
def test_credentials_are_refused_whatever_the_policy(url: str) -> None:
    with pytest.raises(targets.Refused, match="credentials"):
        check(url, allow_private=True)


def test_production_requires_https() -> None:
    with pytest.raises(targets.Refused, match="https"):
        check("http://shop.example.com/", require_https=True)
    check("https://shop.example.com/", require_https=True)


def test_a_url_passed_once_is_judged_again_under_another_policy_and_a_refusal_is_never_remembered() -> None:
    """``check_url`` remembers URLs that pass, by URL and policy together."""
    url = "http://127.0.0.1:9/remembered"
    for _ in range(2):
        check(url, allow_private=True)
        with pytest.raises(targets.Refused, match="loopback"):
            check(url)
        with pytest.raises(targets.Refused, match="https"):
            check(url, allow_private=True, require_https=True)


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///x", "http://[::1/", "http://999.1/", "http://x.0x1/"])
def test_malformed_or_numeric_but_invalid_hosts_are_refused(url: str) -> None:
    with pytest.raises(targets.Refused):
        check(url, allow_private=True)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.65535", "10.1.255.255"),
        ("0xA9.0xFE.0xA9.0xFE", "169.254.169.254"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_inet_aton_forms_are_read_as_resolvers_read_them(text: str, want: str) -> None:
    assert targets.parse_ipv4(text) == ipaddress.IPv4Address(want)


@pytest.mark.parametrize("text", ["256.1.1.1", "1.2.3.4.5", "09.1.1.1", "1.2.3.256", "0_7", "+1", "1..1", "١٢٧.0.0.1"])
def test_what_is_no_inet_aton_form_is_not_an_address(text: str) -> None:
    assert targets.parse_ipv4(text) is None


def test_resolved_addresses_are_refused_as_a_whole_if_any_is_inward() -> None:
    assert targets.check_addresses("h", ["8.8.8.8", "2606:4700::1111"], allow_private=False) == [
        "8.8.8.8",
        "2606:4700::1111",
    ]
    with pytest.raises(targets.Refused, match="loopback"):
        targets.check_addresses("h", ["8.8.8.8", "127.0.0.1"], allow_private=False)
    with pytest.raises(targets.Refused, match="metadata"):
        targets.check_addresses("h", ["169.254.169.254"], allow_private=True)
    with pytest.raises(targets.Refused):
        targets.check_addresses("h", [], allow_private=True)
    assert targets.check_addresses("h", ["127.0.0.1", "127.0.0.1"], allow_private=True) == ["127.0.0.1"]
